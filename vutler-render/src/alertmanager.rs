//! `alertmanager/alertmanager.yml`: routes by severity, receivers whose credentials are read from
//! Docker secret files (never written into the file), and critical alerts inhibiting warnings of
//! the same alert.
//!
//! Alertmanager cannot read environment variables in its configuration, so its credentials are
//! Docker secrets in every environment (`./secrets/<name>`, listed in `.env.example`).

use indexmap::IndexMap;
use serde::Serialize;
use vutler_spec::Stack;
use vutler_spec::stack::{Alertmanager, ReceiverKind};

use crate::runtime::Runtime;
use crate::{RenderError, header, yaml};

/// Path of the configuration in the rendered tree.
pub const CONFIG: &str = vutler_spec::configs::ALERTMANAGER_CONFIG;

#[derive(Debug, Serialize)]
struct Config {
    route: Route,
    receivers: Vec<ReceiverConfig>,
    inhibit_rules: Vec<Inhibit>,
}

#[derive(Debug, Serialize)]
struct Route {
    receiver: String,
    // Child routes inherit the parent's grouping.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    group_by: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_wait: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_interval: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat_interval: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    matchers: Vec<String>,
    #[serde(rename = "continue", skip_serializing_if = "std::ops::Not::not")]
    continue_: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<Route>,
}

#[derive(Debug, Serialize)]
struct ReceiverConfig {
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    slack_configs: Vec<IndexMap<&'static str, serde_json::Value>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pagerduty_configs: Vec<IndexMap<&'static str, serde_json::Value>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    email_configs: Vec<IndexMap<&'static str, serde_json::Value>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    webhook_configs: Vec<IndexMap<&'static str, serde_json::Value>>,
}

#[derive(Debug, Serialize)]
struct Inhibit {
    source_matchers: Vec<String>,
    target_matchers: Vec<String>,
    equal: Vec<&'static str>,
}

fn child(receiver: &str, matcher: String, continue_: bool) -> Route {
    Route {
        receiver: receiver.to_owned(),
        group_by: Vec::new(),
        group_wait: None,
        group_interval: None,
        repeat_interval: None,
        matchers: vec![matcher],
        continue_,
        routes: Vec::new(),
    }
}

/// The contents of `alertmanager/alertmanager.yml`. Credentials are the paths of the secret
/// files the runtime gives the Alertmanager container.
pub fn render(stack: &Stack, am: &Alertmanager, runtime: &Runtime<'_>) -> Result<String, RenderError> {
    let secret_path = |variable| runtime.secret_file(variable).container_path();
    // One child route per (severity, receiver); all but the last receiver of a severity
    // `continue`, so every receiver of the severity is notified.
    let mut routes = Vec::new();
    for r in &am.routes {
        let matcher = format!("severity=\"{}\"", r.severity.as_str());
        for (i, receiver) in r.receivers.iter().enumerate() {
            routes.push(child(
                &am.receiver(*receiver).name,
                matcher.clone(),
                i + 1 < r.receivers.len(),
            ));
        }
    }
    let receivers = am
        .receivers
        .iter()
        .map(|r| {
            let mut out = ReceiverConfig {
                name: r.name.to_string(),
                slack_configs: Vec::new(),
                pagerduty_configs: Vec::new(),
                email_configs: Vec::new(),
                webhook_configs: Vec::new(),
            };
            match &r.kind {
                ReceiverKind::Slack { channel, webhook_url } => out.slack_configs.push(IndexMap::from([
                    ("api_url_file", secret_path(*webhook_url).into()),
                    ("channel", channel.to_string().into()),
                    ("send_resolved", true.into()),
                    (
                        "title",
                        "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}".into(),
                    ),
                    (
                        "text",
                        "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}".into(),
                    ),
                ])),
                ReceiverKind::Pagerduty { routing_key } => out.pagerduty_configs.push(IndexMap::from([
                    ("routing_key_file", secret_path(*routing_key).into()),
                    ("send_resolved", true.into()),
                ])),
                ReceiverKind::Email {
                    to,
                    from,
                    smarthost,
                    auth,
                    require_tls,
                } => {
                    let mut config = IndexMap::from([
                        ("to", to.to_string().into()),
                        ("from", from.to_string().into()),
                        ("smarthost", smarthost.to_string().into()),
                    ]);
                    if let Some((user, password)) = auth {
                        config.insert("auth_username", user.to_string().into());
                        config.insert("auth_password_file", secret_path(*password).into());
                    }
                    config.insert("require_tls", (*require_tls).into());
                    config.insert("send_resolved", true.into());
                    out.email_configs.push(config);
                }
                ReceiverKind::Webhook { url, token } => {
                    let mut config = IndexMap::from([("url", url.to_string().into())]);
                    if let Some(token) = token {
                        config.insert(
                            "http_config",
                            serde_json::json!({
                                "authorization": { "type": "Bearer", "credentials_file": secret_path(*token) }
                            }),
                        );
                    }
                    config.insert("send_resolved", true.into());
                    out.webhook_configs.push(config);
                }
            }
            out
        })
        .collect();
    let config = Config {
        route: Route {
            receiver: am.receiver(am.default_receiver).name.to_string(),
            group_by: vec!["alertname", "severity"],
            group_wait: Some("30s"),
            group_interval: Some("5m"),
            repeat_interval: Some("4h"),
            matchers: Vec::new(),
            continue_: false,
            routes,
        },
        receivers,
        inhibit_rules: vec![Inhibit {
            source_matchers: vec!["severity=\"critical\"".into()],
            target_matchers: vec!["severity=\"warning\"".into()],
            equal: vec!["alertname"],
        }],
    };
    Ok(format!("{}{}", header(stack), yaml::to_string(&config)?))
}
