//! Grafana provisioning: the datasources (with their fixed uids), a dashboard provider, and one
//! JSON file per dashboard of the model (seed 5.2), every query naming its datasource by uid.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Value, json};
use vutler_spec::Stack;
use vutler_spec::stack::{Mount, PanelKind};

use crate::{RenderError, Rendered, endpoint, header, yaml};

/// Folder of provisioning files in the rendered tree (mounted at `/etc/grafana/provisioning`).
pub const PROVISIONING: &str = "grafana/provisioning";
/// Datasources file in the rendered tree.
pub const DATASOURCES: &str = "grafana/provisioning/datasources/datasources.yml";
/// Dashboard provider file in the rendered tree.
pub const PROVIDERS: &str = "grafana/provisioning/dashboards/dashboards.yml";
/// Folder of dashboard JSON files in the rendered tree.
pub const DASHBOARDS: &str = "grafana/dashboards";
/// Where the dashboards folder is mounted when the spec does not say.
const DEFAULT_DASHBOARDS_TARGET: &str = "/etc/grafana/dashboards";

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

/// Where the Grafana service reads the dashboards folder.
fn dashboards_target(stack: &Stack) -> String {
    stack.services[&stack.monitoring.grafana.service]
        .mounts
        .iter()
        .find_map(|m| match m {
            Mount::Config { path, target } if path == DASHBOARDS => Some(target.clone()),
            _ => None,
        })
        .unwrap_or_else(|| DEFAULT_DASHBOARDS_TARGET.to_owned())
}

/// Query ids unique within a panel: `A`..`Z`, then `A1`, `B1`, ...
fn ref_id(i: usize) -> String {
    let letter = char::from(b'A' + u8::try_from(i % 26).unwrap_or(0));
    match i / 26 {
        0 => letter.to_string(),
        round => format!("{letter}{round}"),
    }
}

fn panel(stack: &Stack, id: usize, p: &vutler_spec::stack::Panel) -> Value {
    let uid = &stack.monitoring.grafana.datasources[&p.datasource].uid;
    let datasource = json!({ "type": "prometheus", "uid": uid });
    let targets: Vec<Value> = p
        .queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let mut t = json!({
                "refId": ref_id(i),
                "datasource": datasource,
                "expr": q.expr,
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
        "fieldConfig": { "defaults": { "unit": p.unit.as_deref().unwrap_or("short") }, "overrides": [] },
        "options": {},
        "targets": targets,
    })
}

/// Adds the Grafana provisioning files and dashboards to the tree.
pub fn render(stack: &Stack, tree: &mut Rendered) -> Result<(), RenderError> {
    let g = &stack.monitoring.grafana;
    let datasources = Datasources {
        api_version: 1,
        datasources: g
            .datasources
            .iter()
            .map(|(name, d)| {
                Ok(DatasourceConfig {
                    name: name.clone(),
                    uid: d.uid.clone(),
                    kind: "prometheus",
                    access: "proxy",
                    url: format!("http://{}", endpoint(stack, &d.service, &d.port)?),
                    is_default: d.default,
                    editable: false,
                })
            })
            .collect::<Result<_, RenderError>>()?,
    };
    tree.insert(
        DATASOURCES,
        format!("{}{}", header(stack), yaml::to_string(&datasources)?),
    )?;

    let providers = Providers {
        api_version: 1,
        providers: vec![Provider {
            name: stack.project.clone(),
            org_id: 1,
            folder: stack.project.clone(),
            kind: "file",
            disable_deletion: true,
            allow_ui_updates: false,
            options: IndexMap::from([("path", dashboards_target(stack))]),
        }],
    };
    tree.insert(PROVIDERS, format!("{}{}", header(stack), yaml::to_string(&providers)?))?;

    for (name, d) in &g.dashboards {
        let dashboard = json!({
            "uid": d.uid,
            "title": d.title,
            "description": format!("Generated by vutler-render from specs/ for the `{}` environment. Do not edit: change the specs and render again.", stack.env),
            "tags": [stack.project],
            "editable": false,
            "schemaVersion": 39,
            "version": 1,
            "time": { "from": "now-6h", "to": "now" },
            "refresh": "30s",
            "timezone": "utc",
            "panels": d.panels.iter().enumerate().map(|(i, p)| panel(stack, i, p)).collect::<Vec<_>>(),
        });
        let mut text = serde_json::to_string_pretty(&dashboard)?;
        text.push('\n');
        tree.insert(format!("{DASHBOARDS}/{name}.json"), text)?;
    }
    Ok(())
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
