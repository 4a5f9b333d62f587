//! `[[calendar]]`: features of the event time itself (hour, weekday, night, weekend).

use super::keys::{get, require, table_of};
use super::parse_feature::FeatureCx;
use super::{CalendarFeature, CalendarKind, FeatureDef};
use riskstream_core::diag::{did_you_mean, Diagnostic, Diagnostics};

const CALENDAR_KEYS: &[&str] = &["name", "kind", "night_hours"];

/// The `calendar` array of tables (`v`); its features come first in the output.
pub(super) fn parse_calendars(
    v: Option<&toml::Value>,
    cx: &mut FeatureCx<'_>,
    diags: &mut Diagnostics,
) {
    let Some(v) = v else { return };
    let Some(items) = v.as_array() else {
        diags.push(
            Diagnostic::new("calendar", "must be an array of tables")
                .hint("write `[[calendar]]` before each calendar feature"),
        );
        return;
    };
    for (j, item) in items.iter().enumerate() {
        let path = format!("calendar[{j}]");
        let def = parse_calendar(item, &path, cx, diags);
        let name = item.get("name").and_then(|n| n.as_str());
        cx.add(name, def);
    }
}

/// One `[[calendar]]` table at `path`: every problem it has is reported.
fn parse_calendar(
    item: &toml::Value,
    path: &str,
    cx: &mut FeatureCx<'_>,
    diags: &mut Diagnostics,
) -> Option<FeatureDef> {
    let t = table_of(
        item,
        path,
        CALENDAR_KEYS,
        "write `[[calendar]]` followed by its keys",
        diags,
    )?;
    let name: Option<String> = require(t, "name", path, diags);
    let kind_text: Option<String> = require(t, "kind", path, diags);
    let night_hours: Option<[u8; 2]> = get(t, "night_hours", path, diags);
    if let Some(n) = &name {
        cx.seen_name(n, &format!("{path}.name"), diags);
    }
    let kind = match kind_text.as_deref()? {
        "hour" => Some(CalendarKind::Hour),
        "weekday" => Some(CalendarKind::Weekday),
        "weekend" => Some(CalendarKind::Weekend),
        "night" => {
            let [from, to] = night_hours.unwrap_or([0, 6]);
            if from > 23 || to > 23 {
                diags.push(Diagnostic::new(
                    format!("{path}.night_hours"),
                    "hours must be 0–23",
                ));
            }
            Some(CalendarKind::Night { from, to })
        }
        other => {
            let d = Diagnostic::new(
                format!("{path}.kind"),
                format!("unknown calendar kind `{other}`"),
            );
            diags.push(
                match did_you_mean(other, ["hour", "weekday", "night", "weekend"]) {
                    Some(h) => d.hint(h),
                    None => d.hint("use hour, weekday, night or weekend"),
                },
            );
            None
        }
    };
    if night_hours.is_some() && !matches!(kind, Some(CalendarKind::Night { .. })) {
        diags.push(Diagnostic::new(
            format!("{path}.night_hours"),
            "applies only to kind = \"night\"",
        ));
    }
    Some(FeatureDef::Calendar(CalendarFeature {
        name: name?,
        kind: kind?,
    }))
}
