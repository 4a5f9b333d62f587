//! Eligibility: which items a customer may be offered at all, as CEL rules over their
//! attributes (no loan to a customer in arrears, no mortgage under 21).
//!
//! ```toml
//! [groups]                      # named sets of items, so one rule covers several
//! lending = ["personal_loan", "mortgage", "credit_card"]
//!
//! [[rule]]
//! group = "lending"             # or: item = "mortgage"
//! when = "!customer.in_arrears" # CEL; true = eligible
//! why = "no lending to customers in arrears"
//! ```
//!
//! An item is eligible for a customer when every rule that names it (directly or through a
//! group) evaluates to `true` on that customer's attributes (`customer.<column>`: ints,
//! doubles, bools and strings; an empty cell is an absent key, so `has(customer.x)` tests
//! it). Items no rule names are always eligible.
//!
//! Why this shape: rules are compiled once when the file loads (the same `cel` crate and
//! stdlib as the decision rules), then per customer each rule runs once and yields the
//! items it bars, which is exactly what [`crate::TopOptions::exclude`] takes. Loading
//! checks everything and reports every problem at once, each with `file:line:column`, the
//! item or group and, for syntax errors, the column inside the expression: the file parses;
//! each rule names exactly one known item or group; every `customer.X` is a known attribute
//! (with a "did you mean"); and a dry run on a sample customer yields a bool without type
//! errors.
//!
//! Failing closed: a rule that cannot be evaluated for a customer (an attribute missing for
//! them, a value of an unexpected type) bars its items and says why, because offering a
//! loan we could not check is the worse mistake.

use crate::error::{RecommendError, Result};
use crate::ids::IdMap;
use cel::common::ast::{Expr, IdedExpr};
use cel::{Context, Env, ExecutionError, Program, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, LazyLock};

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));

/// The one variable a rule sees.
const ROOT: &str = "customer";

/// The type of a customer attribute column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// Whole numbers.
    Int,
    /// Real numbers.
    Float,
    /// true / false.
    Bool,
    /// Text (categories, ids).
    Str,
}

/// One customer attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// A whole number.
    Int(i64),
    /// A real number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// Text.
    Str(String),
}

impl Attr {
    fn value(&self) -> Value {
        match self {
            Attr::Int(i) => Value::Int(*i),
            Attr::Float(f) => Value::Float(*f),
            Attr::Bool(b) => Value::Bool(*b),
            Attr::Str(s) => Value::String(Arc::new(s.clone())),
        }
    }
}

/// A customer's attributes by column name; a missing key is an empty cell.
pub type Attributes = BTreeMap<String, Attr>;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    groups: BTreeMap<String, Vec<toml::Spanned<String>>>,
    #[serde(default)]
    rule: Vec<toml::Spanned<RuleToml>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleToml {
    item: Option<String>,
    group: Option<String>,
    when: toml::Spanned<String>,
    why: Option<String>,
}

/// One compiled rule.
#[derive(Debug)]
struct Rule {
    /// "item `x`" or "group `g`".
    scope: String,
    /// The CEL source.
    when: String,
    /// Why, as written (or the expression).
    why: String,
    /// Item indices it bars when false.
    items: Vec<u32>,
    program: Program,
}

/// Compiled eligibility rules for one model's items.
#[derive(Debug)]
pub struct Eligibility {
    rules: Vec<Rule>,
}

/// What the rules decided for one customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// Item indices barred, ascending, without repeats (give them to `TopOptions::exclude`).
    pub barred: Vec<u32>,
    /// Each rule that barred something: its scope and why (or why it could not be checked).
    pub reasons: Vec<String>,
    /// Rules that could not be evaluated for this customer (and so barred their items).
    pub errors: usize,
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl Eligibility {
    /// Reads and compiles an eligibility file for a model with `items`, customers
    /// described by `attributes` (column name → type).
    pub fn load(path: &Path, items: &IdMap, attributes: &[(String, AttrType)]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| RecommendError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string(), Some(items), attributes)
    }

    /// Compiles eligibility rules from TOML text; `origin` names it in messages (a path).
    /// Every problem is reported at once. Without `items` (checking a file before any model
    /// is known) item names are not checked and the rules bar nothing.
    pub fn parse(
        text: &str,
        origin: &str,
        items: Option<&IdMap>,
        attributes: &[(String, AttrType)],
    ) -> Result<Self> {
        let fail = |problems: Vec<String>| RecommendError::Eligibility {
            path: origin.to_string(),
            problems,
        };
        let file: FileToml = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let (l, c) = line_col(text, s.start);
                    format!("{origin}:{l}:{c}: ")
                })
                .unwrap_or_default();
            fail(vec![format!("{at}{}", e.message().trim())])
        })?;
        let mut problems = Vec::new();
        let item_names: Vec<&str> = items
            .map(|m| m.ids().iter().map(String::as_str).collect())
            .unwrap_or_default();
        // Without a model every name resolves (to nothing).
        let lookup = |name: &str| -> std::result::Result<Option<u32>, ()> {
            match items {
                None => Ok(None),
                Some(m) => m.get(name).map(Some).ok_or(()),
            }
        };
        let unknown_item = |name: &str| {
            let mut m = format!("unknown item `{name}`: the model has no such item");
            if let Some(h) = riskstream_core::diag::did_you_mean(name, item_names.iter().copied()) {
                m.push_str(&format!("; {h}"));
            }
            m
        };
        let mut groups: HashMap<&str, Vec<u32>> = HashMap::new();
        for (g, members) in &file.groups {
            let mut ix = Vec::new();
            for m in members {
                let (l, c) = line_col(text, m.span().start);
                match lookup(m.get_ref()) {
                    Ok(i) => ix.extend(i),
                    Err(()) => problems.push(format!(
                        "{origin}:{l}:{c}: group `{g}`: {}",
                        unknown_item(m.get_ref())
                    )),
                }
            }
            groups.insert(g.as_str(), ix);
        }
        let attr_names: Vec<&str> = attributes.iter().map(|a| a.0.as_str()).collect();
        let mut rules = Vec::new();
        for (n, r) in file.rule.iter().enumerate() {
            let (rl, rc) = line_col(text, r.span().start);
            let r = r.get_ref();
            let at = format!("{origin}:{rl}:{rc}: rule {}", n + 1);
            let (scope, ix) = match (&r.item, &r.group) {
                (Some(i), None) => match lookup(i) {
                    Ok(ix) => (format!("item `{i}`"), ix.into_iter().collect()),
                    Err(()) => {
                        problems.push(format!("{at}: {}", unknown_item(i)));
                        (format!("item `{i}`"), Vec::new())
                    }
                },
                (None, Some(g)) => match groups.get(g.as_str()) {
                    Some(ix) => (format!("group `{g}`"), ix.clone()),
                    None => {
                        let mut m = format!("{at}: unknown group `{g}`: declare it under [groups]");
                        if let Some(h) = riskstream_core::diag::did_you_mean(
                            g,
                            file.groups.keys().map(String::as_str),
                        ) {
                            m.push_str(&format!("; {h}"));
                        }
                        problems.push(m);
                        (format!("group `{g}`"), Vec::new())
                    }
                },
                _ => {
                    problems.push(format!(
                        "{at}: give exactly one of `item = \"<item id>\"` or `group = \"<group name>\"`"
                    ));
                    continue;
                }
            };
            let src = r.when.get_ref();
            let (wl, wc) = line_col(text, r.when.span().start);
            let wat = format!("{origin}:{wl}:{wc}: {scope}");
            let program = match ENV.compile(src) {
                Ok(p) => p,
                Err(errs) => {
                    for e in &errs.errors {
                        let pos = if e.pos.1 > 0 {
                            format!(
                                " at line {} column {} of the expression",
                                e.pos.0.max(1),
                                e.pos.1
                            )
                        } else {
                            String::new()
                        };
                        problems.push(format!(
                            "{wat}: CEL syntax error{pos}: {} (in `{src}`)",
                            e.msg
                        ));
                    }
                    continue;
                }
            };
            let before = problems.len();
            check_refs(program.expression(), &attr_names, &wat, &mut problems);
            if problems.len() == before {
                if let Err(m) = dry_run(&program, attributes) {
                    problems.push(format!(
                        "{wat}: fails on a sample customer: {m} (in `{src}`); a rule must be true or false: check the attribute types (doubles are written 1.0, not 1)"
                    ));
                }
            }
            rules.push(Rule {
                why: r.why.clone().unwrap_or_else(|| src.clone()),
                scope,
                when: src.clone(),
                items: ix,
                program,
            });
        }
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        Ok(Eligibility { rules })
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules as (scope, expression, why), for display.
    pub fn describe(&self) -> Vec<(String, String, String)> {
        self.rules
            .iter()
            .map(|r| (r.scope.clone(), r.when.clone(), r.why.clone()))
            .collect()
    }

    /// Evaluates every rule on one customer's attributes.
    pub fn check(&self, customer: &Attributes) -> Verdict {
        let mut ctx = Context::with_env(ENV.clone());
        let map: HashMap<String, Value> = customer
            .iter()
            .map(|(k, v)| (k.clone(), v.value()))
            .collect();
        ctx.add_variable_from_value(ROOT, map);
        let mut v = Verdict::default();
        for r in &self.rules {
            match eval(&r.program, &ctx) {
                Ok(true) => {}
                Ok(false) => {
                    v.barred.extend_from_slice(&r.items);
                    v.reasons.push(format!("{}: {}", r.scope, r.why));
                }
                Err(e) => {
                    v.barred.extend_from_slice(&r.items);
                    v.errors += 1;
                    v.reasons.push(format!(
                        "{}: could not be checked ({e}), so barred",
                        r.scope
                    ));
                }
            }
        }
        v.barred.sort_unstable();
        v.barred.dedup();
        v
    }
}

/// Runs a program; `Ok(eligible)` or why it could not run.
fn eval(p: &Program, ctx: &Context<'_, '_>) -> std::result::Result<bool, String> {
    // Third-party interpreter: a panic inside it must cost one rule, not the request.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.execute(ctx)))
        .map_err(|_| "the CEL interpreter panicked".to_string())?;
    match r {
        Ok(Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("evaluated to {:?}, not a bool", other.type_of())),
        Err(ExecutionError::NoSuchKey(k)) => Err(format!(
            "attribute `{k}` is empty for this customer; test with has(customer.{k})"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// A dry run on a sample customer (every attribute set): catches type errors, not value
/// errors (a division by zero on the sample is not the rule's fault).
fn dry_run(p: &Program, attributes: &[(String, AttrType)]) -> std::result::Result<(), String> {
    let sample: Attributes = attributes
        .iter()
        .map(|(n, t)| {
            let v = match t {
                AttrType::Int => Attr::Int(1),
                AttrType::Float => Attr::Float(1.0),
                AttrType::Bool => Attr::Bool(false),
                AttrType::Str => Attr::Str("x".into()),
            };
            (n.clone(), v)
        })
        .collect();
    let mut ctx = Context::with_env(ENV.clone());
    let map: HashMap<String, Value> = sample.iter().map(|(k, v)| (k.clone(), v.value())).collect();
    ctx.add_variable_from_value(ROOT, map);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.execute(&ctx)))
        .map_err(|_| "the CEL interpreter panicked".to_string())?;
    match r {
        Ok(Value::Bool(_)) => Ok(()),
        Ok(other) => Err(format!("it evaluates to {:?}, not a bool", other.type_of())),
        Err(
            e @ (ExecutionError::NoSuchOverload(_)
            | ExecutionError::UnsupportedBinaryOperator(..)
            | ExecutionError::ValuesNotComparable(..)
            | ExecutionError::UndeclaredReference(_)
            | ExecutionError::UnexpectedType { .. }
            | ExecutionError::InvalidArgumentCount { .. }
            | ExecutionError::NotSupportedAsMethod { .. }),
        ) => Err(e.to_string()),
        Err(_) => Ok(()),
    }
}

/// Every `customer.X` (and `customer["X"]`) must name an attribute; `customer` is the only
/// free variable.
fn check_refs(e: &IdedExpr, attrs: &[&str], at: &str, problems: &mut Vec<String>) {
    let mut scope = Vec::new();
    walk(e, attrs, at, &mut scope, problems);
}

fn member(field: &str, attrs: &[&str], at: &str, problems: &mut Vec<String>) {
    if !attrs.contains(&field) {
        let mut m = format!("{at}: unknown attribute `customer.{field}`");
        match riskstream_core::diag::did_you_mean(field, attrs.iter().copied()) {
            Some(h) => m.push_str(&format!("; {h}")),
            None => m.push_str(&format!(
                "; the customers file has {}",
                if attrs.is_empty() {
                    "no attribute columns".to_string()
                } else {
                    attrs.join(", ")
                }
            )),
        }
        problems.push(m);
    }
}

fn walk(
    e: &IdedExpr,
    attrs: &[&str],
    at: &str,
    scope: &mut Vec<String>,
    problems: &mut Vec<String>,
) {
    match &e.expr {
        Expr::Select(sel) => {
            if let Expr::Ident(root) = &sel.operand.expr {
                if root == ROOT && !scope.iter().any(|s| s == root) {
                    member(&sel.field, attrs, at, problems);
                    return;
                }
            }
            walk(&sel.operand, attrs, at, scope, problems);
        }
        Expr::Call(call) => {
            if call.func_name == cel::common::ast::operators::INDEX {
                if let (
                    Some(Expr::Ident(root)),
                    Some(Expr::Literal(cel::common::ast::LiteralValue::String(k))),
                ) = (
                    call.args.first().map(|a| &a.expr),
                    call.args.get(1).map(|a| &a.expr),
                ) {
                    if root == ROOT && !scope.iter().any(|s| s == root) {
                        member(k.inner(), attrs, at, problems);
                        return;
                    }
                }
            }
            if let Some(t) = &call.target {
                walk(t, attrs, at, scope, problems);
            }
            for a in &call.args {
                walk(a, attrs, at, scope, problems);
            }
        }
        Expr::Ident(name)
            if !name.starts_with('@') && name != ROOT && !scope.iter().any(|s| s == name) =>
        {
            let mut m = format!("{at}: unknown variable `{name}`: a rule sees only `customer`");
            if attrs.contains(&name.as_str()) {
                m.push_str(&format!("; did you mean `customer.{name}`?"));
            }
            problems.push(m);
        }
        Expr::Comprehension(c) => {
            walk(&c.iter_range, attrs, at, scope, problems);
            let n = scope.len();
            scope.push(c.accu_var.clone());
            walk(&c.accu_init, attrs, at, scope, problems);
            scope.push(c.iter_var.clone());
            if let Some(v) = &c.iter_var2 {
                scope.push(v.clone());
            }
            walk(&c.loop_cond, attrs, at, scope, problems);
            walk(&c.loop_step, attrs, at, scope, problems);
            walk(&c.result, attrs, at, scope, problems);
            scope.truncate(n);
        }
        Expr::List(l) => {
            for x in &l.elements {
                walk(x, attrs, at, scope, problems);
            }
        }
        Expr::Map(m) => {
            for en in &m.entries {
                if let cel::common::ast::EntryExpr::MapEntry(me) = &en.expr {
                    walk(&me.key, attrs, at, scope, problems);
                    walk(&me.value, attrs, at, scope, problems);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn items() -> IdMap {
        let mut m = IdMap::default();
        for i in ["savings", "credit_card", "mortgage", "personal_loan"] {
            m.intern(i);
        }
        m
    }

    fn attrs() -> Vec<(String, AttrType)> {
        vec![
            ("age".into(), AttrType::Int),
            ("income".into(), AttrType::Float),
            ("in_arrears".into(), AttrType::Bool),
            ("segment".into(), AttrType::Str),
        ]
    }

    const RULES: &str = r#"
[groups]
lending = ["credit_card", "mortgage", "personal_loan"]

[[rule]]
group = "lending"
when = "!customer.in_arrears"
why = "no lending to customers in arrears"

[[rule]]
item = "mortgage"
when = "customer.age >= 21 && customer.income >= 20000.0"
"#;

    fn customer(age: i64, income: f64, arrears: bool) -> Attributes {
        [
            ("age".to_string(), Attr::Int(age)),
            ("income".to_string(), Attr::Float(income)),
            ("in_arrears".to_string(), Attr::Bool(arrears)),
            ("segment".to_string(), Attr::Str("mass".into())),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn rules_bar_what_they_say() {
        let it = items();
        let e = Eligibility::parse(RULES, "rules.toml", Some(&it), &attrs()).unwrap();
        assert_eq!(e.len(), 2);
        let ok = e.check(&customer(40, 50_000.0, false));
        assert!(ok.barred.is_empty(), "{ok:?}");
        let arrears = e.check(&customer(40, 50_000.0, true));
        let ix = |n: &str| it.get(n).unwrap();
        let mut want = vec![ix("credit_card"), ix("mortgage"), ix("personal_loan")];
        want.sort_unstable();
        assert_eq!(arrears.barred, want);
        assert!(arrears.reasons[0].contains("no lending to customers in arrears"));
        let young = e.check(&customer(19, 50_000.0, false));
        assert_eq!(young.barred, vec![ix("mortgage")]);
        // Missing attribute: fail closed, and say so.
        let mut partial = customer(40, 50_000.0, false);
        partial.remove("in_arrears");
        let v = e.check(&partial);
        assert_eq!(v.errors, 1);
        assert_eq!(v.barred.len(), 3);
        assert!(v.reasons[0].contains("has(customer.in_arrears)"), "{v:?}");
    }

    #[test]
    fn every_problem_is_named_with_file_item_and_position() {
        let bad = r#"
[groups]
lending = ["credit_card", "mortgag"]

[[rule]]
item = "mortgage"
when = "customer.age >= && true"

[[rule]]
group = "lendng"
when = "customer.incme > 1.0"

[[rule]]
item = "savings"
when = "customer.segment + 1 == 2"
"#;
        let err = Eligibility::parse(bad, "rules.toml", Some(&items()), &attrs())
            .unwrap_err()
            .to_string();
        for want in [
            "rules.toml:3:27: group `lending`: unknown item `mortgag`",
            "did you mean `mortgage`",
            "rules.toml:7:8: item `mortgage`: CEL syntax error at line 1 column",
            "unknown group `lendng`",
            "unknown attribute `customer.incme`; did you mean `income`",
            "item `savings`: fails on a sample customer",
        ] {
            assert!(err.contains(want), "missing `{want}` in:\n{err}");
        }
    }

    #[test]
    fn a_rule_needs_exactly_one_scope_and_toml_errors_have_positions() {
        let both = "[[rule]]\nitem = \"savings\"\ngroup = \"x\"\nwhen = \"true\"\n";
        let err = Eligibility::parse(both, "e.toml", Some(&items()), &attrs())
            .unwrap_err()
            .to_string();
        assert!(err.contains("exactly one of"), "{err}");
        let broken = "[[rule]]\nitem = \"savings\"\nwhen = \n";
        let err = Eligibility::parse(broken, "e.toml", Some(&items()), &attrs())
            .unwrap_err()
            .to_string();
        assert!(err.contains("e.toml:3:"), "{err}");
        let int_vs_bool = "[[rule]]\nitem = \"savings\"\nwhen = \"customer.age\"\n";
        let err = Eligibility::parse(int_vs_bool, "e.toml", Some(&items()), &attrs())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a bool"), "{err}");
    }
}
