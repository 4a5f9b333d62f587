//! `riskstream lineage <tx>`: how a transaction was decided and with what, from the
//! registry the service config names ([`riskstream_server::lineage`]); the same answer as
//! `GET /v1/lineage/{tx_id}`, without a running service.

use crate::cmd::admin::{block_on, Ctx, Target};
use crate::Outcome;

/// `riskstream lineage`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// The transaction id as it was sent for a decision.
    tx_id: String,
    /// `text` for people, `json` for tools.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

pub fn run(a: Args) -> anyhow::Result<Outcome> {
    block_on(async move {
        let ctx = Ctx::open(&a.target).await?;
        let l = riskstream_server::lineage::lineage(&ctx.reg, &a.tx_id).await?;
        if a.format == "json" {
            println!("{}", serde_json::to_string_pretty(&l)?);
        } else {
            print!("{}", l.to_text());
        }
        Ok(Outcome::Clean)
    })
}
