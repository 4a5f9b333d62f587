//! CEL for rules: the environment, the variables a rule sees, load-time checks.
//!
//! A rule's `when` is a CEL expression over four variables:
//!
//! | variable | what | example |
//! |---|---|---|
//! | `tx` | the transaction's schema fields (int, double, bool, string; timestamps as µs ints; absent optional fields are `null`) | `tx.TX_AMOUNT > 220.0` |
//! | `features` | the feature spec's features for this transaction (doubles) | `features.CUSTOMER_ID_NB_TX_1DAY_WINDOW >= 5.0` |
//! | `scores` | `scores.model`: the score of the model deciding this transaction; `scores.<slot name>`: each scored model by name | `scores.model > 0.7` |
//! | `lists` | the named lists; `x in lists.<name>`, `lists.<name>.contains(x)` or `in_list('<name>', x)` | `in_list('block_customers', tx.CUSTOMER_ID)` |
//!
//! List membership compares text: an int id matches the list entry with the same digits.
//! `in_list('name', x)` is a macro rewritten to `x in lists.name` when the rule is compiled,
//! so the list name must be a string literal (and is checked like any other reference).
//!
//! The variables are views, not copies: `tx.X` looks the field up in the decoded row and
//! `features.X` in the feature row, so building a rule's context costs four pointers, not
//! a map per decision. The price is that they cannot be iterated (`features.exists(...)`
//! is not supported); no rule has needed it.
//!
//! Load-time checks (every problem of every rule reported at once): the expression parses;
//! every `tx.X`, `features.X` and `lists.X` names something that exists (with a "did you
//! mean"); every bare identifier is one of the four variables or a comprehension variable;
//! and a dry run against a sample transaction (every field set, features 1.0, every
//! referenced score 0.5, empty lists) must produce a bool — this catches type errors such
//! as `tx.CUSTOMER_ID + "x"` and unknown functions on the paths the sample takes.

use crate::lists::{List, Lists};
use cel::common::ast::{operators, CallExpr, EntryExpr, Expr, IdedExpr, LiteralValue, SelectExpr};
use cel::common::traits::{Container, Indexer};
use cel::common::types::{CelBool, CelDouble, CelInt, CelNull, CelString, CelUInt, Type, DYN_TYPE};
use cel::common::value::{CowVal, Val};
use cel::parser::Macro;
use cel::{Context, Env, ExecutionError, Program, Value};
use riskstream_core::diag::did_you_mean;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};

static LIST_TYPE: Type = Type::new_unspecified_type("riskstream.list");
static LISTS_TYPE: Type = Type::new_unspecified_type("riskstream.lists");
static TX_TYPE: Type = Type::new_unspecified_type("riskstream.tx");
static FEATURES_TYPE: Type = Type::new_unspecified_type("riskstream.features");
static SCORES_TYPE: Type = Type::new_unspecified_type("riskstream.scores");

/// The variables a rule may name.
pub(crate) const ROOTS: [&str; 4] = ["tx", "features", "scores", "lists"];

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(build_env()));

fn build_env() -> Env {
    let mut env = Env::stdlib();
    // `in_list('name', x)` → `x in lists.name`: the name must be a literal so that it is
    // checked at load like every other reference.
    let in_list = Macro::global("in_list", 2, |helper, _target, args| {
        let is_literal = matches!(&args[0].expr, Expr::Literal(LiteralValue::String(_)));
        if !is_literal {
            return Err(helper.new_error(
                args[0].id,
                "in_list's first argument must be a list name in quotes, e.g. in_list('block_customers', tx.CUSTOMER_ID)",
            ));
        }
        let value = args.pop().unwrap_or_default();
        let name = match args.pop().map(|a| a.expr) {
            Some(Expr::Literal(LiteralValue::String(s))) => s.inner().to_string(),
            _ => String::new(),
        };
        let lists = helper.next_expr(Expr::Ident("lists".into()));
        let list = helper.next_expr(Expr::Select(SelectExpr {
            operand: Box::new(lists),
            field: name,
            test: false,
        }));
        Ok(Some(helper.next_expr(Expr::Call(CallExpr {
            func_name: operators::IN.to_string(),
            target: None,
            args: vec![value, list],
        }))))
    });
    // Both are fixed declarations on a fresh stdlib environment; they cannot clash.
    let _ = env.add_macro(in_list);
    let _ = env.add_member_overload(
        "contains",
        "riskstream_list_contains",
        LIST_TYPE.to_owned(),
        vec![DYN_TYPE.to_owned()],
        list_contains,
    );
    env
}

fn list_contains<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (Some(list), Some(value)) = (args.first(), args.get(1)) else {
        return Err(ExecutionError::invalid_argument_count(2, args.len()));
    };
    let c = list
        .as_container()
        .ok_or_else(|| ExecutionError::function_error("contains", "not a list"))?;
    Ok(CowVal::owned(CelBool::from(c.contains(value.as_ref())?)))
}

/// Compiles a rule expression with our environment (stdlib, `in_list`, list `contains`).
pub(crate) fn compile(source: &str) -> Result<Program, cel::ParseErrors> {
    ENV.compile(source)
}

/// One value of a transaction, as rules see it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TxValue {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
}

impl TxValue {
    fn to_val<'b, 'v>(v: &'v TxValue) -> CowVal<'b, 'v> {
        match v {
            TxValue::Null => CowVal::owned(CelNull),
            TxValue::Int(i) => CowVal::owned(CelInt::from(*i)),
            TxValue::Float(f) => CowVal::owned(CelDouble::from(*f)),
            TxValue::Bool(b) => CowVal::owned(CelBool::from(*b)),
            TxValue::Str(s) => CowVal::owned(CelString::from(s.as_str())),
        }
    }

    /// The value as list-entry text (`None` for null).
    pub(crate) fn text(&self) -> Option<String> {
        match self {
            TxValue::Null => None,
            TxValue::Int(i) => Some(i.to_string()),
            TxValue::Float(f) => Some(f.to_string()),
            TxValue::Bool(b) => Some(b.to_string()),
            TxValue::Str(s) => Some(s.clone()),
        }
    }
}

/// Names → positions, fixed by the feature spec.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vocab {
    pub tx: HashMap<String, usize>,
    pub features: HashMap<String, usize>,
    pub tx_names: Vec<String>,
    pub feature_names: Vec<String>,
}

impl Vocab {
    pub fn new(tx_names: Vec<String>, feature_names: Vec<String>) -> Self {
        Self {
            tx: tx_names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i))
                .collect(),
            features: feature_names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i))
                .collect(),
            tx_names,
            feature_names,
        }
    }
}

/// What one decision's rules read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Input<'a> {
    pub vocab: &'a Vocab,
    pub tx: &'a [TxValue],
    pub features: &'a [f64],
    pub scores: &'a [(String, f64)],
    pub lists: &'a Lists,
    pub now: i64,
}

fn key_str(idx: &dyn Val) -> Result<&str, ExecutionError> {
    idx.downcast_ref::<CelString>()
        .map(|s| s.inner())
        .ok_or_else(|| ExecutionError::UnexpectedType {
            got: idx.get_type().name().to_string(),
            want: "string".into(),
        })
}

fn no_key(k: &str) -> ExecutionError {
    ExecutionError::no_such_key(k)
}

/// A rule variable that is a view: indexing it by a string key looks the key up, and
/// nothing there is CEL's no-such-key (so `has(...)` is false rather than an error). The
/// four variables differ only in the lookup; [`View`] does the rest once.
trait Lookup: std::fmt::Debug + Copy + Send + Sync {
    /// The variable's CEL type.
    fn cel_type() -> &'static Type;

    /// The value under `key`, or `None`.
    fn lookup<'b, 'v>(&'b self, key: &str) -> Option<CowVal<'b, 'v>>
    where
        Self: 'v;
}

/// A [`Lookup`] as a CEL value that can be indexed (`tx.X`, `features['X']`).
#[derive(Debug, Clone, Copy)]
struct View<T>(T);

impl<T: Lookup> Val for View<T> {
    fn get_type(&self) -> &Type {
        T::cel_type()
    }
    fn cel_type() -> &'static Type {
        T::cel_type()
    }
    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(*self)
    }
    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }
}

impl<T: Lookup> Indexer for View<T> {
    fn get<'b, 'v>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let k = key_str(idx)?;
        self.0.lookup(k).ok_or_else(|| no_key(k))
    }
    fn steal<'v>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

#[derive(Debug, Clone, Copy)]
struct TxVal<'a> {
    vocab: &'a Vocab,
    row: &'a [TxValue],
}

impl Lookup for TxVal<'_> {
    fn cel_type() -> &'static Type {
        &TX_TYPE
    }
    fn lookup<'b, 'v>(&'b self, key: &str) -> Option<CowVal<'b, 'v>>
    where
        Self: 'v,
    {
        let row: &'v [TxValue] = self.row;
        self.vocab
            .tx
            .get(key)
            .and_then(|&i| row.get(i))
            .map(TxValue::to_val)
    }
}

#[derive(Debug, Clone, Copy)]
struct FeaturesVal<'a> {
    vocab: &'a Vocab,
    row: &'a [f64],
}

impl Lookup for FeaturesVal<'_> {
    fn cel_type() -> &'static Type {
        &FEATURES_TYPE
    }
    fn lookup<'b, 'v>(&'b self, key: &str) -> Option<CowVal<'b, 'v>>
    where
        Self: 'v,
    {
        self.vocab
            .features
            .get(key)
            .and_then(|&i| self.row.get(i))
            .map(|v| CowVal::owned(CelDouble::from(*v)))
    }
}

#[derive(Debug, Clone, Copy)]
struct ScoresVal<'a> {
    scores: &'a [(String, f64)],
}

impl Lookup for ScoresVal<'_> {
    fn cel_type() -> &'static Type {
        &SCORES_TYPE
    }
    fn lookup<'b, 'v>(&'b self, key: &str) -> Option<CowVal<'b, 'v>>
    where
        Self: 'v,
    {
        self.scores
            .iter()
            .find(|(n, _)| n == key)
            .map(|(_, v)| CowVal::owned(CelDouble::from(*v)))
    }
}

#[derive(Debug, Clone, Copy)]
struct ListsVal<'a> {
    lists: &'a Lists,
    now: i64,
}

impl Lookup for ListsVal<'_> {
    fn cel_type() -> &'static Type {
        &LISTS_TYPE
    }
    fn lookup<'b, 'v>(&'b self, key: &str) -> Option<CowVal<'b, 'v>>
    where
        Self: 'v,
    {
        // A declared list nobody has filled yet is empty, not an error.
        Some(CowVal::owned(ListVal {
            list: self.lists.get(key),
            now: self.now,
        }))
    }
}

#[derive(Debug, Clone, Copy)]
struct ListVal<'a> {
    list: Option<&'a List>,
    now: i64,
}

impl<'a> Val for ListVal<'a> {
    fn get_type(&self) -> &Type {
        &LIST_TYPE
    }
    fn cel_type() -> &'static Type {
        &LIST_TYPE
    }
    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(*self)
    }
    fn as_container(&self) -> Option<&dyn Container> {
        Some(self)
    }
}

impl Container for ListVal<'_> {
    fn contains(&self, value: &dyn Val) -> Result<bool, ExecutionError> {
        let Some(list) = self.list else {
            return Ok(false);
        };
        if let Some(s) = value.downcast_ref::<CelString>() {
            return Ok(list.contains(s.inner(), self.now));
        }
        let text = if let Some(i) = value.downcast_ref::<CelInt>() {
            i.inner().to_string()
        } else if let Some(u) = value.downcast_ref::<CelUInt>() {
            u.inner().to_string()
        } else if value.downcast_ref::<CelNull>().is_some() {
            return Ok(false);
        } else {
            return Err(ExecutionError::UnexpectedType {
                got: value.get_type().name().to_string(),
                want: "string or int (a list entry)".into(),
            });
        };
        Ok(list.contains(&text, self.now))
    }
}

/// The evaluation context of one decision: the four variables, as views.
pub(crate) fn context<'v>(input: &Input<'v>) -> Context<'v, 'v> {
    let mut ctx = Context::with_env(ENV.clone());
    ctx.add_variable_as_val(
        "tx",
        Box::new(View(TxVal {
            vocab: input.vocab,
            row: input.tx,
        })),
    );
    ctx.add_variable_as_val(
        "features",
        Box::new(View(FeaturesVal {
            vocab: input.vocab,
            row: input.features,
        })),
    );
    ctx.add_variable_as_val(
        "scores",
        Box::new(View(ScoresVal {
            scores: input.scores,
        })),
    );
    ctx.add_variable_as_val(
        "lists",
        Box::new(View(ListsVal {
            lists: input.lists,
            now: input.now,
        })),
    );
    ctx
}

/// Evaluates a compiled rule in a decision's context; `Ok(fired)` or why it could not be
/// evaluated.
pub(crate) fn eval_in(program: &Program, ctx: &Context<'_, '_>) -> Result<bool, String> {
    // The interpreter is third-party code on the hot path; a panic inside it must cost
    // one rule, not the decision (or the service's decider lock).
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| program.execute(ctx)))
        .map_err(|p| {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            format!("the CEL interpreter panicked: {what}")
        })?;
    match r {
        Ok(Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("evaluated to {}, not a bool", other.type_of_name())),
        // tx, features and lists are checked when the policy loads; a missing key at run
        // time is a score that this transaction does not have.
        Err(ExecutionError::NoSuchKey(k)) => Err(format!(
            "no score `{k}` for this transaction (that model is not deployed, or it failed); test with has(scores.{k})"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// [`eval_in`] with a fresh context.
pub(crate) fn eval(program: &Program, input: &Input<'_>) -> Result<bool, String> {
    eval_in(program, &context(input))
}

trait TypeName {
    fn type_of_name(&self) -> &'static str;
}

impl TypeName for Value {
    fn type_of_name(&self) -> &'static str {
        match self {
            Value::List(_) => "a list",
            Value::Map(_) => "a map",
            Value::Int(_) => "an int",
            Value::UInt(_) => "a uint",
            Value::Float(_) => "a double",
            Value::String(_) => "a string",
            Value::Bytes(_) => "bytes",
            Value::Bool(_) => "a bool",
            Value::Null => "null",
            _ => "a non-bool value",
        }
    }
}

/// What the AST walk found in one expression.
#[derive(Debug, Default)]
pub(crate) struct Refs {
    /// Problems, as messages with hints.
    pub problems: Vec<String>,
    /// `scores.X` names (for the dry run and for deployment checks).
    pub scores: BTreeSet<String>,
    /// `lists.X` names.
    pub lists: BTreeSet<String>,
}

/// Walks an expression and checks every reference against the vocabulary.
/// `lists`: the declared list names, or `None` when the policy declares none (then any
/// list name is accepted).
pub(crate) fn check_refs(expr: &IdedExpr, vocab: &Vocab, lists: Option<&BTreeSet<String>>) -> Refs {
    let mut refs = Refs::default();
    let mut scope = Vec::new();
    walk(expr, vocab, lists, &mut scope, &mut refs);
    refs
}

fn walk(
    e: &IdedExpr,
    vocab: &Vocab,
    lists: Option<&BTreeSet<String>>,
    scope: &mut Vec<String>,
    refs: &mut Refs,
) {
    match &e.expr {
        Expr::Select(sel) => {
            if let Expr::Ident(root) = &sel.operand.expr {
                if !scope.iter().any(|s| s == root) {
                    check_member(root, &sel.field, vocab, lists, refs);
                    if ROOTS.contains(&root.as_str()) {
                        return;
                    }
                }
            }
            walk(&sel.operand, vocab, lists, scope, refs);
        }
        Expr::Call(call) => {
            // `features["X"]`: the same check as `features.X`.
            if call.func_name == operators::INDEX {
                if let (Some(Expr::Ident(root)), Some(Expr::Literal(LiteralValue::String(k)))) = (
                    call.args.first().map(|a| &a.expr),
                    call.args.get(1).map(|a| &a.expr),
                ) {
                    if !scope.iter().any(|s| s == root) && ROOTS.contains(&root.as_str()) {
                        check_member(root, k.inner(), vocab, lists, refs);
                        return;
                    }
                }
            }
            if let Some(t) = &call.target {
                walk(t, vocab, lists, scope, refs);
            }
            for a in &call.args {
                walk(a, vocab, lists, scope, refs);
            }
        }
        Expr::Ident(name) => {
            if !name.starts_with('@')
                && !scope.iter().any(|s| s == name)
                && !ROOTS.contains(&name.as_str())
            {
                let mut m = format!(
                    "unknown variable `{name}`: a rule sees tx, features, scores and lists"
                );
                if let Some(h) = did_you_mean(name, ROOTS) {
                    m.push_str(&format!("; {h}"));
                } else if vocab.tx.contains_key(name) {
                    m.push_str(&format!("; did you mean `tx.{name}`?"));
                } else if vocab.features.contains_key(name) {
                    m.push_str(&format!("; did you mean `features.{name}`?"));
                }
                refs.problems.push(m);
            }
        }
        Expr::Comprehension(c) => {
            walk(&c.iter_range, vocab, lists, scope, refs);
            let n = scope.len();
            scope.push(c.accu_var.clone());
            walk(&c.accu_init, vocab, lists, scope, refs);
            scope.push(c.iter_var.clone());
            if let Some(v) = &c.iter_var2 {
                scope.push(v.clone());
            }
            walk(&c.loop_cond, vocab, lists, scope, refs);
            walk(&c.loop_step, vocab, lists, scope, refs);
            walk(&c.result, vocab, lists, scope, refs);
            scope.truncate(n);
        }
        Expr::List(l) => {
            for x in &l.elements {
                walk(x, vocab, lists, scope, refs);
            }
        }
        Expr::Map(m) => {
            for en in &m.entries {
                walk_entry(&en.expr, vocab, lists, scope, refs);
            }
        }
        Expr::Struct(s) => {
            for en in &s.entries {
                walk_entry(&en.expr, vocab, lists, scope, refs);
            }
        }
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn walk_entry(
    e: &EntryExpr,
    vocab: &Vocab,
    lists: Option<&BTreeSet<String>>,
    scope: &mut Vec<String>,
    refs: &mut Refs,
) {
    match e {
        EntryExpr::StructField(f) => walk(&f.value, vocab, lists, scope, refs),
        EntryExpr::MapEntry(m) => {
            walk(&m.key, vocab, lists, scope, refs);
            walk(&m.value, vocab, lists, scope, refs);
        }
    }
}

fn check_member(
    root: &str,
    field: &str,
    vocab: &Vocab,
    lists: Option<&BTreeSet<String>>,
    refs: &mut Refs,
) {
    let unknown = |what: &str, names: &mut dyn Iterator<Item = &str>, fix: &str| {
        let all: Vec<&str> = names.collect();
        let mut m = format!("unknown {what} `{field}`");
        if let Some(h) = did_you_mean(field, all.iter().copied()) {
            m.push_str(&format!("; {h}"));
        } else {
            m.push_str(&format!("; {fix}"));
        }
        m
    };
    match root {
        "tx" if !vocab.tx.contains_key(field) => {
            let m = unknown(
                "transaction field",
                &mut vocab.tx_names.iter().map(String::as_str),
                &format!("the schema's fields are {}", vocab.tx_names.join(", ")),
            );
            refs.problems.push(format!("tx.{field}: {m}"));
        }
        "features" if !vocab.features.contains_key(field) => {
            let m = unknown(
                "feature",
                &mut vocab.feature_names.iter().map(String::as_str),
                "define it in the feature spec, or use one of its features",
            );
            refs.problems.push(format!("features.{field}: {m}"));
        }
        "scores" => {
            refs.scores.insert(field.to_string());
        }
        "lists" => {
            refs.lists.insert(field.to_string());
            if let Some(declared) = lists {
                if !declared.contains(field) {
                    let m = unknown(
                        "list",
                        &mut declared.iter().map(String::as_str),
                        "add it to the policy's `lists = [...]`",
                    );
                    refs.problems.push(format!("lists.{field}: {m}"));
                }
            }
        }
        _ => {}
    }
}

/// Sample values for the dry run: every field set, in its type.
pub(crate) fn sample_tx(schema: &riskstream_core::Schema) -> Vec<TxValue> {
    use riskstream_core::FieldType;
    schema
        .fields
        .iter()
        .map(|f| match f.ty {
            FieldType::Int => TxValue::Int(f.min.map_or(1, |m| m.max(1.0) as i64)),
            FieldType::Float => TxValue::Float(f.min.map_or(1.0, |m| m.max(1.0))),
            FieldType::Bool => TxValue::Bool(false),
            FieldType::Timestamp => TxValue::Int(1_700_000_000_000_000),
            FieldType::String => TxValue::Str("x".into()),
            FieldType::Category => TxValue::Str(
                f.values
                    .as_ref()
                    .and_then(|v| v.first().cloned())
                    .unwrap_or_else(|| "x".into()),
            ),
        })
        .collect()
}

/// Whether a dry-run failure depends on the sample values rather than on the expression
/// (division by zero, overflow, an index out of range): those are not load errors.
pub(crate) fn value_dependent(msg: &str) -> bool {
    [
        "Division by zero",
        "Remainder by zero",
        "Overflow",
        "Index out of bounds",
    ]
    .iter()
    .any(|p| msg.starts_with(p))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn vocab() -> Vocab {
        Vocab::new(
            vec!["ID".into(), "AMOUNT".into(), "CUST".into()],
            vec!["n_1d".into(), "mean_1d".into()],
        )
    }

    fn run(src: &str, lists: &Lists) -> Result<bool, String> {
        let v = vocab();
        let p = compile(src).map_err(|e| e.to_string())?;
        let tx = [
            TxValue::Int(7),
            TxValue::Float(250.0),
            TxValue::Str("c1".into()),
        ];
        let scores = [("model".to_string(), 0.8)];
        eval(
            &p,
            &Input {
                vocab: &v,
                tx: &tx,
                features: &[3.0, 10.0],
                scores: &scores,
                lists,
                now: 100,
            },
        )
    }

    #[test]
    fn variables_lists_and_functions() {
        let mut l = Lists::new();
        l.insert("block", "7", None);
        l.insert("block", "c1", Some(50));
        assert_eq!(
            run("tx.AMOUNT > 220.0 && features.n_1d >= 3.0", &l),
            Ok(true)
        );
        assert_eq!(run("features['mean_1d'] == 10.0", &l), Ok(true));
        assert_eq!(run("scores.model > 0.5", &l), Ok(true));
        assert_eq!(run("in_list('block', tx.ID)", &l), Ok(true));
        assert_eq!(run("tx.ID in lists.block", &l), Ok(true));
        assert_eq!(run("lists.block.contains(tx.ID)", &l), Ok(true));
        assert_eq!(run("string(tx.ID) in lists.block", &l), Ok(true));
        // Expired at now = 100.
        assert_eq!(run("in_list('block', tx.CUST)", &l), Ok(false));
        assert_eq!(run("in_list('nobody_filled_it', tx.CUST)", &l), Ok(false));
        assert!(run("tx.AMOUNT", &l).unwrap_err().contains("not a bool"));
        assert!(run("scores.other > 0.5", &l)
            .unwrap_err()
            .contains("no score"));
        assert!(run("in_list(tx.CUST, tx.ID)", &l)
            .unwrap_err()
            .contains("list name in quotes"));
    }

    #[test]
    fn references_are_checked() {
        let v = vocab();
        let declared: BTreeSet<String> = ["block".to_string()].into();
        let p = compile(
            "tx.AMOUNTT > 1.0 || features.n_7d > 0.0 || AMOUNT > 1.0 || in_list('blok', tx.ID) \
             || [1, 2].exists(x, x > features.mean_1d) || scores.lr_v2 > 0.5 || features['zz'] > 1.0",
        )
        .unwrap();
        let r = check_refs(p.expression(), &v, Some(&declared));
        let all = r.problems.join("\n");
        assert!(
            all.contains("tx.AMOUNTT: unknown transaction field `AMOUNTT`; did you mean `AMOUNT`?"),
            "{all}"
        );
        assert!(all.contains("features.n_7d: unknown feature"), "{all}");
        assert!(all.contains("unknown variable `AMOUNT`"), "{all}");
        assert!(all.contains("did you mean `tx.AMOUNT`?"), "{all}");
        assert!(
            all.contains("lists.blok: unknown list `blok`; did you mean `block`?"),
            "{all}"
        );
        assert!(all.contains("features.zz"), "{all}");
        assert_eq!(r.problems.len(), 5, "{all}");
        assert!(r.scores.contains("lr_v2"));
    }
}
