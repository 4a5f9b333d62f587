//! `riskstream bench`: the flags of each benchmark and the dispatch to `riskstream_bench`,
//! which runs them (ours side by side with the peers on the same data, in the same run).
//!
//! Defaults that name files in or beside the repository are resolved here (see
//! [`super::defaults`]), so the benches run from any directory.

use super::defaults::{or_repo, HANDBOOK_RAW, PEERS_DIR, PEERS_VENV, SEED_SCRIPTS};
use crate::stdout::Stdout;
use crate::Outcome;
use riskstream_bench::{handbook, http, models, pipeline, windows};
use std::path::PathBuf;

/// Arguments of `riskstream bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

/// What to benchmark.
#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Per-event trailing windows (count and sum over 1 h and 24 h per entity) against Spark and Flink.
    Windows(WindowArgs),
    /// The fraud handbook's 14 features on its raw file, against the same features in Spark
    /// (into its no-op sink, and writing the same Parquet table as we do) and Flink.
    Handbook(HandbookArgs),
    /// Our learners against LightGBM, XGBoost, scikit-learn and Spark MLlib on the same CSVs.
    Models(ModelArgs),
    /// The decision service over HTTP: open-loop load at fixed rates, p50/p99/p99.9 and errors.
    Http(HttpArgs),
    /// Streaming pipelines through NATS JetStream and Kafka: broker produce/consume ceilings,
    /// pipeline events/s and event-to-decision latency, in one run.
    Pipeline(PipelineArgs),
}

/// Arguments of `riskstream bench windows`.
#[derive(Debug, clap::Args)]
pub struct WindowArgs {
    /// Input events (any supported file).
    #[arg(long)]
    pub input: PathBuf,
    /// Schema of the input (file or shipped name); default: detected from the header.
    #[arg(long)]
    pub schema: Option<String>,
    /// Entity-key field (an int field); default: the schema's first entity.
    #[arg(long)]
    pub entity: Option<String>,
    /// Amount field (a number); default: a field called TX_AMOUNT or amount.
    #[arg(long)]
    pub amount: Option<String>,
    /// Working directory for the converted input and the spec.
    #[arg(long, default_value = "out/bench")]
    pub out_dir: PathBuf,
    /// Peers to run: spark, flink (comma-separated; empty for none).
    #[arg(long, default_value = "spark,flink")]
    pub peers: String,
    /// Directory holding the peers' virtualenvs (`spark/`, `flink/`) [default:
    /// ../peers-venv, from the repository root]
    #[arg(long, env = "PEERS_VENV")]
    pub peers_venv: Option<PathBuf>,
    /// Directory holding the peer scripts [default: ../shared/peers, from the repository
    /// root]
    #[arg(long, env = "PEERS_DIR")]
    pub peers_dir: Option<PathBuf>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `riskstream bench handbook`.
#[derive(Debug, clap::Args)]
pub struct HandbookArgs {
    /// The handbook's raw transactions.
    /// [default: ../shared/data/fraud-handbook-simulated/raw/transactions_2018-04-01_2018-09-30.csv.gz,
    /// from the repository root]
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Our feature spec for it [default: the shipped examples/fraud-handbook/features.toml,
    /// built in]
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// The Spark peer job computing the same features [default:
    /// bench/peers/spark_handbook_features.py, from the repository root]
    #[arg(long)]
    pub spark_job: Option<PathBuf>,
    /// The Flink peer job computing the same windows [default:
    /// bench/peers/flink_handbook_features.py, from the repository root]
    #[arg(long)]
    pub flink_job: Option<PathBuf>,
    /// Peers to run: spark, flink (comma-separated; empty for none).
    #[arg(long, default_value = "spark,flink")]
    pub peers: String,
    /// Directory holding the peers' virtualenvs (`spark/`, `flink/`) [default:
    /// ../peers-venv, from the repository root]
    #[arg(long, env = "PEERS_VENV")]
    pub peers_venv: Option<PathBuf>,
    /// Working directory.
    #[arg(long, default_value = "out/bench")]
    pub out_dir: PathBuf,
    /// Runs of our own jobs (end to end, engine only); the median is reported, with the
    /// range. The peers run once each: a run takes them tens of seconds.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=99))]
    pub runs: u32,
}

/// Arguments of `riskstream bench models`.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// Training CSV (e.g. from `../shared/peers/gen_data.py txn`).
    #[arg(long)]
    pub train: PathBuf,
    /// Test CSV with the same columns.
    #[arg(long)]
    pub test: PathBuf,
    /// Label column.
    #[arg(long, default_value = "label")]
    pub label: String,
    /// Columns that are not model inputs (besides the label).
    #[arg(long, value_delimiter = ',', default_value = "account_id,ts,amount")]
    pub exclude: Vec<String>,
    /// Threads for our learners and the peers.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// One-row predictions timed per model.
    #[arg(long, default_value_t = 10_000)]
    pub single_calls: usize,
    /// Peers to run: ml (LightGBM, XGBoost, scikit-learn), spark (comma-separated; empty for none).
    #[arg(long, default_value = "ml,spark")]
    pub peers: String,
    /// Directory holding the peers' virtualenvs (`ml/`, `spark/`) [default:
    /// ../peers-venv, from the repository root]
    #[arg(long, env = "PEERS_VENV")]
    pub peers_venv: Option<PathBuf>,
    /// Directory holding the peer scripts [default: ../shared/peers, from the repository
    /// root]
    #[arg(long, env = "PEERS_DIR")]
    pub peers_dir: Option<PathBuf>,
    /// Also write every measurement as JSON lines here.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Run only our learners with these peers' settings (comma-separated: LightGBM,
    /// XGBoost, GBTClassifier, RandomForest, LogisticRegression, IsolationForest);
    /// empty runs them all.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Compare our GBDT with LightGBM and XGBoost over these seeds (e.g. 1,2,3,4,5): AUC,
    /// AP and train CPU seconds per seed and as means, and whether ours holds on each.
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Directory holding `lgbm_seeds.py` and `xgb_seeds.py` [default: scripts/peers, from
    /// the repository root]
    #[arg(long)]
    pub seed_scripts: Option<PathBuf>,
}

/// Arguments of `riskstream bench http`.
#[derive(Debug, clap::Args)]
pub struct HttpArgs {
    /// Service config to serve (default: the one `riskstream demo` leaves behind, with its
    /// registry, model, policy and warmed feature state).
    #[arg(long, default_value = "out/demo/service.toml")]
    pub config: PathBuf,
    /// Transactions to send (in time order, after the state's history).
    /// [default: ../shared/data/fraud-handbook-simulated/raw/transactions_2018-04-01_2018-09-30.csv.gz,
    /// from the repository root]
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Schema of the input (file or shipped name).
    #[arg(long, default_value = "fraud-handbook-raw")]
    pub schema: String,
    /// Time column; only rows at or after --from are sent.
    #[arg(long, default_value = "TX_DATETIME")]
    pub time_col: String,
    /// First day to send (YYYY-MM-DD).
    #[arg(long, default_value = "2018-08-09")]
    pub from: String,
    /// Request rates to step through, per second.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000")]
    pub rates: Vec<u32>,
    /// Seconds per rate step.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Client connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    /// After each step, the p99 of every second of it (a stall shows as one bad second,
    /// a service past its capacity as every second bad).
    #[arg(long)]
    pub per_second: bool,
    /// The service's live straggler tolerance during the run (`[features] live_tolerance`).
    /// Replaying history at thousands of requests a second compresses event time: the
    /// handbook has about one transaction every 9 s, so at 5,000 requests/s a 1 ms
    /// reordering between connections spans some 45 s of event time. The default absorbs
    /// that; decisions taken within it are counted in the `reordered` column.
    #[arg(long, default_value = "1h")]
    pub live_tolerance: String,
}

/// Arguments of `riskstream bench pipeline`.
#[derive(Debug, clap::Args)]
pub struct PipelineArgs {
    /// Transactions to stream.
    /// [default: ../shared/data/fraud-handbook-simulated/raw/transactions_2018-04-01_2018-09-30.csv.gz,
    /// from the repository root]
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Schema of the input.
    #[arg(long, default_value = "fraud-handbook-raw")]
    pub schema: String,
    /// Partition key.
    #[arg(long, default_value = "CUSTOMER_ID")]
    pub key: String,
    /// Records for the throughput steps.
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// Partitions.
    #[arg(long, default_value_t = 4)]
    pub partitions: u32,
    /// Publishing rate for the latency step, per second.
    #[arg(long, default_value_t = 5_000)]
    pub rate: u32,
    /// Seconds of the latency step.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Brokers to run: nats, kafka.
    #[arg(long, value_delimiter = ',', default_value = "nats,kafka")]
    pub brokers: Vec<String>,
    /// NATS server.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub kafka: String,
    /// Feature spec [default: the shipped examples/fraud-handbook/features.toml, built in]
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Policy [default: the shipped examples/fraud-handbook/policy.toml, built in]
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Repartition by this second entity (`[repartition] by`; Kafka only): the pipeline
    /// then runs in two stages through a repartition topic, with the entity's features exact.
    #[arg(long)]
    pub repartition: Option<String>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `bench`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    let out = &mut Stdout;
    match a.what {
        What::Windows(w) => windows::run(w.into(), out)?,
        What::Handbook(h) => handbook::run(h.into(), out)?,
        What::Models(m) => models::run(m.into(), out)?,
        What::Http(h) => http::run(h.into(), out)?,
        What::Pipeline(p) => pipeline::run(p.into(), &produce_records, out)?,
    }
    Ok(Outcome::Clean)
}

/// The records `riskstream produce` would publish: the file's rows in event-time order,
/// keyed by `key` into `partitions`, at most `limit`.
fn produce_records(
    input: &std::path::Path,
    schema: &str,
    key: &str,
    partitions: u32,
    limit: usize,
) -> anyhow::Result<Vec<pipeline::Keyed>> {
    super::pipeline::keyed_rows(input, schema, key, None, partitions, Some(limit))
}

impl From<WindowArgs> for windows::WindowsOptions {
    fn from(w: WindowArgs) -> Self {
        windows::WindowsOptions {
            input: w.input,
            schema: w.schema,
            entity: w.entity,
            amount: w.amount,
            out_dir: w.out_dir,
            peers: w.peers,
            peers_venv: or_repo(w.peers_venv, PEERS_VENV),
            peers_dir: or_repo(w.peers_dir, PEERS_DIR),
            json: w.json,
        }
    }
}

impl From<HandbookArgs> for handbook::HandbookOptions {
    fn from(h: HandbookArgs) -> Self {
        handbook::HandbookOptions {
            input: or_repo(h.input, HANDBOOK_RAW),
            spec: h.spec,
            spark_job: or_repo(h.spark_job, "bench/peers/spark_handbook_features.py"),
            flink_job: or_repo(h.flink_job, "bench/peers/flink_handbook_features.py"),
            peers: h.peers,
            peers_venv: or_repo(h.peers_venv, PEERS_VENV),
            out_dir: h.out_dir,
            runs: h.runs,
        }
    }
}

impl From<ModelArgs> for models::ModelOptions {
    fn from(m: ModelArgs) -> Self {
        models::ModelOptions {
            train: m.train,
            test: m.test,
            label: m.label,
            exclude: m.exclude,
            threads: m.threads,
            single_calls: m.single_calls,
            peers: m.peers,
            peers_venv: or_repo(m.peers_venv, PEERS_VENV),
            peers_dir: or_repo(m.peers_dir, PEERS_DIR),
            output: m.output,
            only: m.only,
            seeds: m.seeds,
            seed_scripts: or_repo(m.seed_scripts, SEED_SCRIPTS),
        }
    }
}

impl From<HttpArgs> for http::HttpOptions {
    fn from(h: HttpArgs) -> Self {
        http::HttpOptions {
            config: h.config,
            input: or_repo(h.input, HANDBOOK_RAW),
            schema: h.schema,
            time_col: h.time_col,
            from: h.from,
            rates: h.rates,
            seconds: h.seconds,
            connections: h.connections,
            json: h.json,
            per_second: h.per_second,
            live_tolerance: h.live_tolerance,
        }
    }
}

impl From<PipelineArgs> for pipeline::PipelineOptions {
    fn from(p: PipelineArgs) -> Self {
        pipeline::PipelineOptions {
            input: or_repo(p.input, HANDBOOK_RAW),
            schema: p.schema,
            key: p.key,
            events: p.events,
            partitions: p.partitions,
            rate: p.rate,
            seconds: p.seconds,
            brokers: p.brokers,
            nats_url: p.nats_url,
            kafka: p.kafka,
            spec: p.spec,
            policy: p.policy,
            repartition: p.repartition,
            json: p.json,
        }
    }
}
