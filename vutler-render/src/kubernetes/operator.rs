//! Monitoring for an existing prometheus-operator (`platform.kubernetes.prometheus_operator`):
//! `k8s/monitoring.yaml`, whose objects its Prometheus reads in place of the environment's own
//! Prometheus, which is then not deployed.
//!
//! - One ServiceMonitor per scrape job, selecting the target's Service by its stable labels,
//!   on the job's port and path, at the spec's interval. The `job` label is the scrape job's
//!   name, as on Compose (the operator would name it after the Service), so that the alert
//!   expressions (`up{job="postgres"}`) hold. A bearer token is the Secret `k8s/secrets.sh`
//!   creates.
//! - One PrometheusRule holding exactly the rule groups of `prometheus/alerts.yml` (the
//!   spec's and those the model derives), which promtool checks as it does the file.
//! - Both carry the spec's labels, which the operator's Prometheus selects them by.
//! - The operator's Prometheus reads the Services' endpoints, ready or not, from the API: the
//!   `<name>-pods` Services the self-hosted Prometheus finds pods through are not rendered.
//!   Its namespace reaches the scraped ports and Alertmanager (NetworkPolicies), and Grafana's
//!   datasource is its `prometheus-operated` Service.

use serde::Serialize;
use vutler_spec::Stack;
use vutler_spec::stack::{Kubernetes, ScrapeAuth, VariableId};

use super::objects::Map;
use super::{Cx, object, secret_name};
use crate::runtime::SecretFile;
use crate::{RenderError, prometheus};

/// The file of the operator's objects.
pub const FILE: &str = "monitoring.yaml";
/// The prometheus-operator's group and version.
pub const API_VERSION: &str = "monitoring.coreos.com/v1";

#[derive(Debug, Clone, Serialize)]
struct ServiceMonitorSpec {
    selector: Selector,
    endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Selector {
    match_labels: Map,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Endpoint {
    port: String,
    path: String,
    interval: String,
    relabelings: Vec<Relabeling>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bearer_token_secret: Option<SecretKey>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Relabeling {
    target_label: &'static str,
    replacement: String,
}

#[derive(Debug, Clone, Serialize)]
struct SecretKey {
    name: String,
    key: String,
}

#[derive(Debug, Clone, Serialize)]
struct RuleSpec {
    groups: serde_json::Value,
}

/// The secrets an operator's Prometheus reads: the scrape jobs' bearer tokens.
pub fn scrape_tokens<'s>(stack: &'s Stack, k8s: &Kubernetes) -> impl Iterator<Item = VariableId> + 's {
    let operated = k8s.prometheus_operator.is_some();
    stack
        .monitoring()
        .filter(|_| operated)
        .into_iter()
        .flat_map(|m| &m.scrape_jobs)
        .filter_map(|j| match j.auth {
            Some(ScrapeAuth::Bearer { token }) => Some(token),
            _ => None,
        })
}

impl Cx<'_> {
    /// The ServiceMonitors and the PrometheusRule.
    pub(super) fn operator_monitoring(&self) -> Result<Vec<serde_json::Value>, RenderError> {
        let stack = self.stack;
        let (Some(op), Some(m)) = (&self.k8s.prometheus_operator, stack.monitoring()) else {
            return Ok(Vec::new());
        };
        let with_operator_labels = |mut labels: Map| {
            for (k, v) in &op.labels {
                labels.insert(k.clone(), v.clone());
            }
            labels
        };
        let prometheus = stack.service(m.prometheus.service);
        let mut docs = Vec::new();
        for job in &m.scrape_jobs {
            let target = stack.service(job.target.service);
            let bearer_token_secret = match job.auth {
                Some(ScrapeAuth::Bearer { token }) => {
                    let variable = stack.variable(token);
                    Some(SecretKey {
                        name: secret_name(variable),
                        key: SecretFile { variable }.name(),
                    })
                }
                Some(ScrapeAuth::Basic { .. }) => {
                    return Err(RenderError::Unrunnable(format!(
                        "scrape job `{}` logs in with basic authentication, which a ServiceMonitor cannot carry (`kubernetes-prometheus-operator` refuses it)",
                        job.name
                    )));
                }
                None => None,
            };
            let meta = self.meta_labelled(job.name.to_string(), with_operator_labels(self.labels(prometheus)));
            docs.push(object(
                API_VERSION,
                "ServiceMonitor",
                meta,
                ServiceMonitorSpec {
                    selector: Selector {
                        match_labels: self.selector(target),
                    },
                    endpoints: vec![Endpoint {
                        port: stack.port(job.target).name.to_string(),
                        path: job.path.to_string(),
                        interval: m.scrape_interval.to_string(),
                        relabelings: vec![Relabeling {
                            target_label: "job",
                            replacement: job.name.to_string(),
                        }],
                        bearer_token_secret,
                    }],
                },
            )?);
        }
        docs.push(object(
            API_VERSION,
            "PrometheusRule",
            self.meta_labelled(
                stack.project().to_string(),
                with_operator_labels(self.labels(prometheus)),
            ),
            RuleSpec {
                groups: prometheus::rule_groups_value(stack, m)?,
            },
        )?);
        Ok(docs)
    }
}
