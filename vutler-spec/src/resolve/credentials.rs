//! Services that enforce authentication, and the credentials their clients present.
//!
//! A service's `authentication` names the variables of its own environment that hold its user
//! and password (the password a `{ secret: VAR }`), and how the password it keeps is changed on
//! rotation. Its clients are the services that depend on it or name it as a host in their
//! environment (`mongodb://mongo:27017`, `minio:9000`); each must pass the same secret
//! variables, as `{ secret: VAR }` or inside `{ with_secrets: ... }` text.
//!
//! Rules: `client-credentials` (a client without them), `credential-not-secret` (a password
//! that is not a secret variable), `rotation-fields` (a rotation without the user it logs in
//! as, or with one it ignores); `dangling-ref` for an unknown variable.

use std::collections::BTreeSet;

use crate::path::SpecPath;
use crate::raw::{Datastore, RawAuthentication, RawDependsOn, RawEnvValue, RawScalar, RawService, Rotation};
use crate::rule::Rule;
use crate::stack::{Authentication, EnvRef, ServiceId, VariableId};

use super::Cx;

/// Whether the service `name` runs the datastore `needs`, which `what` (at `path`) is for;
/// reports `datastore-kind` when it does not.
pub(super) fn runs(cx: &mut Cx<'_>, path: SpecPath, name: &str, s: &RawService, needs: Datastore, what: &str) -> bool {
    let runs = s.datastore();
    if runs == needs {
        return true;
    }
    let said = if s.datastore.is_some() {
        format!("its `datastore` says {}", runs.as_str())
    } else {
        format!("its image {} runs {}", s.image, runs.as_str())
    };
    cx.error_help(
        Rule::DatastoreKind,
        path,
        format!("{what} is for {}, but `{name}` is not: {said}", needs.as_str()),
        format!(
            "use the method of what `{name}` runs, or set `datastore: {}` on it if its image is one under another name",
            needs.as_str()
        ),
    );
    false
}

/// Whether the service `name` keeps plain files, which a volume archive (at `path`) copies while
/// the service runs; reports `datastore-kind` for a datastore, whose files change as they are
/// read.
pub(super) fn holds_files(cx: &mut Cx<'_>, path: SpecPath, name: &str, s: &RawService) -> bool {
    let runs = s.datastore();
    let method = match runs {
        Datastore::Other => return true,
        Datastore::Postgresql => "pg_dump",
        Datastore::Mongodb => "mongodump",
        Datastore::Minio => "minio_mirror",
        Datastore::Redis => "",
    };
    let help = if method.is_empty() {
        format!("back up what `{name}` keeps with its own tool, or mark the volume `kind: cache` if it can be rebuilt")
    } else {
        format!("use `{method}`")
    };
    cx.error_help(
        Rule::DatastoreKind,
        path,
        format!(
            "`volume_archive` copies plain files, but `{name}` runs {}: its files, archived while it writes them, need not restore",
            runs.as_str()
        ),
        help,
    );
    false
}

/// The service's `authentication`, with its variables resolved.
pub(super) fn authentication(
    cx: &mut Cx<'_>,
    p: &SpecPath,
    id: ServiceId,
    s: &RawService,
) -> Option<Option<Authentication>> {
    let Some(a) = &s.authentication else {
        return Some(None);
    };
    let raw = cx.raw;
    let p = p.key("authentication");
    let env = |cx: &mut Cx<'_>, field: &str, key: &str| -> Option<(EnvRef, &RawEnvValue)> {
        match s.environment.get_full(key) {
            Some((index, _, value)) => Some((EnvRef { service: id, index }, value)),
            None => {
                cx.dangling(
                    p.key(field),
                    format!("the service has no variable `{key}` in its environment"),
                    key,
                    s.environment.keys(),
                );
                None
            }
        }
    };
    let needs = match a.rotation {
        Rotation::Postgresql => Some(Datastore::Postgresql),
        Rotation::Mongodb => Some(Datastore::Mongodb),
        Rotation::Grafana | Rotation::Restart => None,
    };
    let name = raw.services.get_index(id.0).map_or("", |(n, _)| n.as_str());
    let kind_ok = needs.is_none_or(|needs| {
        let what = format!("the `{}` rotation", a.rotation.as_str());
        runs(cx, p.key("rotation"), name, s, needs, &what)
    });
    let fields_ok = kind_ok
        && match (a.rotation, &a.user_env) {
            (Rotation::Mongodb, None) => {
                cx.error_help(
                    Rule::RotationFields,
                    p.key("rotation"),
                    "`mongodb` rotation logs in as the user whose password it changes, and `user_env` is not set",
                    "set `user_env` to the variable naming MongoDB's user (`MONGO_INITDB_ROOT_USERNAME`)",
                );
                false
            }
            (Rotation::Grafana, Some(_)) => {
                cx.error_help(
                    Rule::RotationFields,
                    p.key("user_env"),
                    "`grafana` rotation changes the admin user's password and takes no `user_env`",
                    "remove `user_env`",
                );
                false
            }
            _ => true,
        };
    let user = match &a.user_env {
        None => Some(None),
        Some(key) => env(cx, "user_env", key).map(Some),
    };
    let password = env(cx, "password_env", &a.password_env);
    let password = match password {
        Some((r, RawEnvValue::Secret(secret))) => raw.variables.get_index_of(&secret.secret).map(|v| (r, v)),
        Some(_) => {
            cx.error_help(
                Rule::CredentialNotSecret,
                p.key("password_env"),
                format!("`{}` holds the service's password but is not a secret", a.password_env),
                format!(
                    "write `{}: {{ secret: VAR }}` in the service's environment",
                    a.password_env
                ),
            );
            None
        }
        None => None,
    };
    let (user, (password, password_var)) = (user?, password?);
    fields_ok.then_some(())?;
    let mut credentials = Vec::new();
    if let Some((_, RawEnvValue::Secret(secret))) = user
        && let Some(v) = raw.variables.get_index_of(&secret.secret)
    {
        credentials.push(VariableId(v));
    }
    credentials.push(VariableId(password_var));
    Some(Some(Authentication {
        rotation: a.rotation,
        user: user.map(|(r, _)| r),
        password,
        credentials,
    }))
}

/// Every client of a service with `authentication` presents its credentials.
pub(super) fn check(cx: &mut Cx<'_>) {
    let raw = cx.raw;
    for (server, s) in &raw.services {
        let Some(a) = &s.authentication else { continue };
        let needed = needed(s, a);
        if needed.is_empty() {
            continue;
        }
        for (client, c) in &raw.services {
            if client == server {
                continue;
            }
            let Some(at) = connects(c, server) else { continue };
            let presented = presented(c);
            let missing: Vec<&str> = needed.iter().copied().filter(|v| !presented.contains(v)).collect();
            if missing.is_empty() {
                continue;
            }
            let list = missing
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(" and ");
            cx.error_help(
                Rule::ClientCredentials,
                at.of(SpecPath::top("services").key(client)),
                format!("`{client}` connects to `{server}`, which enforces authentication, without {list}"),
                format!(
                    "pass {list} in the environment of `{client}`: `{{ secret: VAR }}`, or inside its connection string with `{{ with_secrets: \"...:${{{}}}@{server}...\" }}`",
                    missing[missing.len() - 1]
                ),
            );
        }
    }
}

/// The secret variables a client of the service must pass.
fn needed<'a>(s: &'a RawService, a: &'a RawAuthentication) -> Vec<&'a str> {
    let secret = |key: &str| match s.environment.get(key) {
        Some(RawEnvValue::Secret(r)) => Some(r.secret.as_str()),
        _ => None,
    };
    a.user_env
        .as_deref()
        .and_then(secret)
        .into_iter()
        .chain(secret(&a.password_env))
        .collect()
}

/// Where a service connects to `server`, if it does.
enum Connects<'a> {
    /// `depends_on[i]`.
    DependsOn(usize),
    /// An environment value naming it as a host.
    Environment(&'a str),
}

impl Connects<'_> {
    /// The spec path, under the client's.
    fn of(&self, client: SpecPath) -> SpecPath {
        match self {
            Connects::DependsOn(i) => client.key("depends_on").index(*i),
            Connects::Environment(key) => client.key("environment").key(key),
        }
    }
}

/// Whether a service connects to `server`: it names it as a host in its environment, or
/// depends on it.
fn connects<'a>(c: &'a RawService, server: &str) -> Option<Connects<'a>> {
    let named = c.environment.iter().find(|(k, v)| match v {
        RawEnvValue::Text(RawScalar::Text(t)) => names_host(k, t, server),
        RawEnvValue::WithSecrets(w) => names_host(k, &w.with_secrets, server),
        _ => false,
    });
    if let Some((key, _)) = named {
        return Some(Connects::Environment(key));
    }
    c.depends_on
        .iter()
        .position(|d| match d {
            RawDependsOn::Short(t) => t == server,
            RawDependsOn::Long(l) => l.service == server,
        })
        .map(Connects::DependsOn)
}

/// The variables a service's environment passes from `.env`: `{ secret: VAR }` and the
/// references of its texts.
fn presented(c: &RawService) -> BTreeSet<&str> {
    let mut out = BTreeSet::new();
    for v in c.environment.values() {
        match v {
            RawEnvValue::Secret(r) => {
                out.insert(r.secret.as_str());
            }
            RawEnvValue::WithSecrets(w) => out.extend(references(&w.with_secrets)),
            RawEnvValue::Text(_) => {}
        }
    }
    out
}

/// The names of the `${VAR}` references of a text (malformed ones are reported elsewhere).
fn references(text: &str) -> impl Iterator<Item = &str> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(name, _)| name)
}

/// Whether the value of variable `key` names `host` as a host: at its start or after `//`, `@`,
/// `,`, `=`, `;` or a space, and followed by a port, a path, a query, `,`, `;`, a space or its
/// end (`minio:9000`, `mongodb://mongo:27017/x`, `host=postgres port=5432`, `Server=mongo;`), so
/// that `mongodb://` does not name `mongo`. A value that is the bare name names a host only
/// where the variable's name says it holds one (`REDIS_HOST: redis`), not a user or a database
/// of the same name (`POSTGRES_USER: gitea`).
pub(crate) fn names_host(key: &str, text: &str, host: &str) -> bool {
    if text == host {
        let key = key.to_ascii_uppercase();
        return ["HOST", "ADDR", "SERVER", "ENDPOINT", "URL", "URI", "DSN"]
            .iter()
            .any(|word| key.contains(word));
    }
    text.match_indices(host).any(|(at, _)| {
        let before = &text[..at];
        let after = &text[at + host.len()..];
        let starts = before.is_empty()
            || before.ends_with("//")
            || before.ends_with(['@', ',', '=', ';'])
            || before.ends_with(char::is_whitespace);
        let ends =
            after.is_empty() || after.starts_with([':', '/', '?', ',', ';']) || after.starts_with(char::is_whitespace);
        starts && ends
    })
}

#[cfg(test)]
mod tests {
    use super::{names_host, references};

    #[test]
    fn hosts_are_named_in_urls_and_endpoints() {
        assert!(names_host("URL", "mongodb://mongo:27017/vutler", "mongo"));
        assert!(names_host("URL", "mongodb://admin:${P}@mongo:27017/vutler", "mongo"));
        assert!(names_host("URL", "minio:9000", "minio"));
        assert!(names_host("URL", "redis://redis", "redis"));
        assert!(names_host("URL", "mongodb://a:1,mongo:27017/x", "mongo"));
        assert!(names_host("URL", "mongodb://mongo,mongo2/x", "mongo"));
        assert!(names_host("URL", "host=postgres port=5432 dbname=app", "postgres"));
        assert!(names_host("URL", "Server=mongo;Database=app", "mongo"));
        assert!(
            !names_host("URL", "mongodb://db:27017/vutler", "mongo"),
            "the scheme is not the host"
        );
        assert!(!names_host("URL", "https://mongo.example.com/", "mongo"));
        assert!(!names_host("URL", "postgres-exporter:9187", "postgres"));
    }

    #[test]
    fn a_bare_name_is_a_host_where_the_variable_holds_one() {
        assert!(names_host("REDIS_HOST", "redis", "redis"));
        assert!(names_host("GITEA__database__HOST", "db", "db"));
        assert!(names_host("MONGO_URL", "mongo", "mongo"));
        assert!(
            !names_host("POSTGRES_USER", "gitea", "gitea"),
            "a user named as the service"
        );
        assert!(
            !names_host("POSTGRES_DB", "gitea", "gitea"),
            "a database named as the service"
        );
        assert!(
            names_host("POSTGRES_DB", "gitea:5432", "gitea"),
            "with a port it is an address"
        );
    }

    #[test]
    fn references_are_listed() {
        let found: Vec<&str> = references("mongodb://${U}:${P}@mongo/${DB}").collect();
        assert_eq!(found, ["U", "P", "DB"]);
    }
}
