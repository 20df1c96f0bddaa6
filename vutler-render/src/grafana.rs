//! Grafana provisioning: the datasources (with their fixed uids), a dashboard provider, and one
//! JSON file per dashboard of the model (seed 5.2), every query naming its datasource by uid.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Value, json};
use vutler_spec::Stack;
use vutler_spec::stack::{DashboardId, Grafana, PanelKind};
use vutler_spec::text::AbsolutePath;

use crate::{RenderError, header, yaml};

pub use vutler_spec::configs::{
    GRAFANA_DASHBOARDS as DASHBOARDS, GRAFANA_DATASOURCES as DATASOURCES, GRAFANA_PROVIDERS as PROVIDERS,
    GRAFANA_PROVISIONING as PROVISIONING,
};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Datasources {
    api_version: u32,
    datasources: Vec<DatasourceConfig>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DatasourceConfig {
    name: String,
    uid: String,
    #[serde(rename = "type")]
    kind: &'static str,
    access: &'static str,
    url: String,
    is_default: bool,
    editable: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Providers {
    api_version: u32,
    providers: Vec<Provider>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Provider {
    name: String,
    org_id: u32,
    folder: String,
    #[serde(rename = "type")]
    kind: &'static str,
    disable_deletion: bool,
    allow_ui_updates: bool,
    options: IndexMap<&'static str, String>,
}

/// Query ids unique within a panel: `A`..`Z`, then `A1`, `B1`, ...
fn ref_id(i: usize) -> String {
    const LETTERS: &[u8; 26] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let letter = char::from(LETTERS[i % 26]);
    match i / 26 {
        0 => letter.to_string(),
        round => format!("{letter}{round}"),
    }
}

fn panel(g: &Grafana, id: usize, p: &vutler_spec::stack::Panel) -> Value {
    let source = g.datasource(p.datasource);
    let datasource = json!({ "type": source.kind.as_str(), "uid": source.uid });
    let targets: Vec<Value> = p
        .queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let mut t = json!({
                "refId": ref_id(i),
                "datasource": datasource,
                "expr": q.expr.as_str(),
            });
            if let Some(legend) = &q.legend {
                t["legendFormat"] = json!(legend);
            }
            t
        })
        .collect();
    // Two panels a row, 12 columns and 8 rows each.
    json!({
        "id": id + 1,
        "type": match p.kind {
            PanelKind::Stat => "stat",
            PanelKind::Timeseries => "timeseries",
            PanelKind::Gauge => "gauge",
        },
        "title": p.name,
        "datasource": datasource,
        "gridPos": { "h": 8, "w": 12, "x": (id % 2) * 12, "y": (id / 2) * 8 },
        "fieldConfig": { "defaults": { "unit": p.unit }, "overrides": [] },
        "options": {},
        "targets": targets,
    })
}

/// Where a datasource's server answers: its service's endpoint, or, for the Prometheus a
/// cluster's prometheus-operator replaces, the operator's Prometheus.
fn datasource_endpoint(stack: &Stack, target: vutler_spec::stack::PortRef) -> String {
    let operator = stack.kubernetes().and_then(|k| {
        let op = k.prometheus_operator.as_ref()?;
        (k.replaced_prometheus(stack) == Some(target.service)).then(|| op.endpoint())
    });
    operator.unwrap_or_else(|| stack.endpoint(target).to_string())
}

/// The contents of the datasources file: every datasource of the model, with its fixed uid.
pub fn datasources(stack: &Stack, g: &Grafana) -> Result<String, RenderError> {
    let datasources = Datasources {
        api_version: 1,
        datasources: g
            .datasources
            .iter()
            .map(|d| DatasourceConfig {
                name: d.name.to_string(),
                uid: d.uid.to_string(),
                kind: d.kind.as_str(),
                access: "proxy",
                url: format!("http://{}", datasource_endpoint(stack, d.target)),
                is_default: d.default,
                editable: false,
            })
            .collect(),
    };
    Ok(format!("{}{}", header(stack), yaml::to_string(&datasources)?))
}

/// The contents of the dashboard provider, which reads the dashboards where Grafana sees them.
pub fn providers(stack: &Stack, dashboards: &AbsolutePath) -> Result<String, RenderError> {
    let providers = Providers {
        api_version: 1,
        providers: vec![Provider {
            name: stack.project().to_string(),
            org_id: 1,
            folder: stack.project().to_string(),
            kind: "file",
            disable_deletion: true,
            allow_ui_updates: false,
            options: IndexMap::from([("path", dashboards.to_string())]),
        }],
    };
    Ok(format!("{}{}", header(stack), yaml::to_string(&providers)?))
}

/// The JSON of one dashboard.
pub fn dashboard(stack: &Stack, g: &Grafana, id: DashboardId) -> Result<String, RenderError> {
    let d = g.dashboard(id);
    let dashboard = json!({
        "uid": d.uid,
        "title": d.title,
        "description": format!("Generated by vutler-render from specs/ for the `{}` environment. Do not edit: change the specs and render again.", stack.env()),
        "tags": [stack.project()],
        "editable": false,
        "schemaVersion": 39,
        "version": 1,
        "time": { "from": "now-6h", "to": "now" },
        "refresh": "30s",
        "timezone": "utc",
        "panels": d.panels.iter().enumerate().map(|(i, p)| panel(g, i, p)).collect::<Vec<_>>(),
    });
    let mut text = serde_json::to_string_pretty(&dashboard)?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_ids_are_unique() {
        let ids: std::collections::BTreeSet<String> = (0..60).map(super::ref_id).collect();
        assert_eq!(ids.len(), 60);
        assert_eq!(super::ref_id(0), "A");
        assert_eq!(super::ref_id(27), "B1");
    }
}
