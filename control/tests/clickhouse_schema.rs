//! tapflow's ClickHouse tables against DeepFlow's (`../shared/deepflow-schema.md`, skipped when
//! absent): `flow_log.l4_flow_log` and `flow_log.l7_flow_log` start with DeepFlow's columns, in
//! DeepFlow's order, with DeepFlow's types (the current dialect spells them as ClickHouse does).

use std::path::Path;

use tapflow_control::clickhouse::{tables, Dialect, Ty};

/// `| column | type |` rows under the `## ClickHouse table `db.t`` heading.
fn doc_columns(text: &str, table: &str) -> Vec<(String, String)> {
    let heading = format!("## ClickHouse table `{table}`");
    let Some(section) = text.split(&heading).nth(1) else {
        return Vec::new();
    };
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter_map(|l| {
            let c: Vec<&str> = l.split('|').map(str::trim).collect();
            (c.len() >= 4 && c[1] != "column" && !c[1].starts_with('-'))
                .then(|| (c[1].to_string(), c[2].to_string()))
        })
        .collect()
}

/// DeepFlow's type names as ClickHouse spells them.
fn spelled(doc_type: &str) -> String {
    match doc_type {
        "LowCardinalityString" => "LowCardinality(String)".into(),
        "DateTime64us" => "DateTime64(6)".into(),
        "ArrayLowCardinalityString" => "Array(LowCardinality(String))".into(),
        "ArrayString" => "Array(String)".into(),
        "ArrayUInt16" => "Array(UInt16)".into(),
        "ArrayFloat64" => "Array(Float64)".into(),
        t if t.ends_with("Nullable") => format!("Nullable({})", t.trim_end_matches("Nullable")),
        t => t.into(),
    }
}

#[test]
fn flow_log_tables_have_deepflows_columns_and_types() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/deepflow-schema.md");
    let Ok(text) = std::fs::read_to_string(&p) else {
        eprintln!("../shared/deepflow-schema.md absent: skipped");
        return;
    };
    let ours = tables();
    for (name, n) in [("flow_log.l4_flow_log", 154), ("flow_log.l7_flow_log", 80)] {
        let want = doc_columns(&text, name);
        assert_eq!(want.len(), n, "{name}: columns in the doc");
        let t = ours
            .iter()
            .find(|t| format!("{}.{}", t.database, t.name) == name)
            .expect("table");
        for (i, (col, ty)) in want.iter().enumerate() {
            let (c, our_ty): (&str, Ty) = t.columns[i];
            assert_eq!(c, col, "{name}: column {i}");
            assert_eq!(our_ty.sql(Dialect::Current), spelled(ty), "{name}.{col}");
        }
    }
}
