//! Strict grammars for values that later reach shell scripts, NGINX directives and YAML keys.
//!
//! Each check returns `Err(expected)` describing what was expected. Grammars are deliberately
//! narrower than what the consuming program accepts: nothing that passes here can carry a
//! newline, a quote, `$`, `;`, a backtick or a brace into a rendered file.

use std::net::IpAddr;

fn all(s: &str, ok: impl Fn(char) -> bool) -> bool {
    s.chars().all(ok)
}

/// A name of a service, volume, network, job or other entry: `[a-z][a-z0-9_-]*`, at most 63.
pub fn name(s: &str) -> Result<(), String> {
    let ok = s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && all(s, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
        });
    ok.then_some(())
        .ok_or_else(|| "a name of lowercase letters, digits, `-` and `_`, starting with a letter".into())
}

/// An environment variable name, as POSIX shells take it: `[A-Za-z_][A-Za-z0-9_]*` (images
/// document mixed-case ones, `GITEA__database__DB_TYPE`).
pub fn env_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && all(s, |c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(()).ok_or_else(|| {
        "a variable name like POSTGRES_PASSWORD: letters, digits and `_`, not starting with a digit".into()
    })
}

/// A DNS name: labels of letters, digits and inner hyphens, at least two labels, 253 at most.
pub fn domain(s: &str) -> Result<(), String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && all(l, |c| c.is_ascii_alphanumeric() || c == '-')
    };
    let labels: Vec<&str> = s.split('.').collect();
    let ok = s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| label_ok(l))
        && labels
            .last()
            .is_some_and(|tld| tld.starts_with(|c: char| c.is_ascii_alphabetic()));
    ok.then_some(())
        .ok_or_else(|| "a domain name like vutler.example.com".into())
}

fn path_chars(s: &str) -> bool {
    all(s, |c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
}

fn no_dot_segments(s: &str) -> bool {
    s.split('/').all(|seg| seg != ".." && seg != ".")
}

/// An absolute path (`/var/lib/postgresql/data`): letters, digits, `/._-`, no `.`/`..` segments.
pub fn absolute_path(s: &str) -> Result<(), String> {
    let ok = s.starts_with('/') && s.len() <= 4096 && path_chars(s) && no_dot_segments(s) && !s.contains("//");
    ok.then_some(())
        .ok_or_else(|| "an absolute path of letters, digits and `/._-`, without `..`".into())
}

/// A host path for a bind mount: absolute, or relative to the deployment folder as `./x`.
pub fn host_path(s: &str) -> Result<(), String> {
    let ok = match s.strip_prefix("./") {
        Some(rest) => !rest.is_empty() && path_chars(rest) && no_dot_segments(rest) && !rest.contains("//"),
        None => absolute_path(s).is_ok(),
    };
    ok.then_some(())
        .ok_or_else(|| "an absolute path or one starting with `./`, of letters, digits and `/._-`".into())
}

/// A path inside the rendered tree (`nginx/nginx.conf`): relative, no `..`.
pub fn tree_path(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && !s.starts_with('/')
        && !s.ends_with('/')
        && path_chars(s)
        && no_dot_segments(s)
        && !s.contains("//");
    ok.then_some(())
        .ok_or_else(|| "a relative path in the rendered tree like nginx/nginx.conf".into())
}

/// A file name without folders (`fullchain.pem`).
pub fn file_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 255
        && !s.starts_with('.')
        && all(s, |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    ok.then_some(())
        .ok_or_else(|| "a file name of letters, digits and `._-`".into())
}

/// An HTTP path (`/metrics`).
pub fn url_path(s: &str) -> Result<(), String> {
    let ok = s.starts_with('/') && path_chars(s) && no_dot_segments(&s[1..]);
    ok.then_some(()).ok_or_else(|| "an HTTP path like /metrics".into())
}

/// An image repository: `vutler/app`, `docker.io/library/postgres`, `quay.io/minio/minio`.
pub fn image_repo(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.split('/').all(|part| {
            !part.is_empty()
                && part.starts_with(|c: char| c.is_ascii_alphanumeric())
                && part.ends_with(|c: char| c.is_ascii_alphanumeric())
                && all(part, |c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
                })
        });
    ok.then_some(())
        .ok_or_else(|| "an image repository like postgres or vutler/app".into())
}

/// An image tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn image_tag(s: &str) -> Result<(), String> {
    let ok = s.len() <= 128
        && s.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && all(s, |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    ok.then_some(()).ok_or_else(|| "an image tag like 16-alpine".into())
}

/// An OpenSSL cipher name (`ECDHE-RSA-AES256-GCM-SHA384`).
pub fn cipher(s: &str) -> Result<(), String> {
    // The longest OpenSSL names are under 50 characters; NGINX refuses parameters over 4096.
    let ok = !s.is_empty()
        && s.len() <= 64
        && all(s, |c| {
            c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_'
        });
    ok.then_some(())
        .ok_or_else(|| "an OpenSSL cipher name like ECDHE-RSA-AES256-GCM-SHA384 (64 characters at most)".into())
}

/// A Prometheus metric name.
pub fn metric_name(s: &str) -> Result<(), String> {
    let ok = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && all(s, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    ok.then_some(())
        .ok_or_else(|| "a metric name like vutler_messages_sent_total".into())
}

/// An email address as alerts are sent to and from: `local@domain`, the local part of letters,
/// digits and `._%+-`, the domain a DNS name.
pub fn email(s: &str) -> Result<(), String> {
    let ok = s.len() <= 254
        && s.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && all(local, |c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
                && self::domain(domain).is_ok()
        });
    ok.then_some(())
        .ok_or_else(|| "an email address like ops@example.com".into())
}

/// An SMTP server as `host:port`: a DNS name or an IPv4 address, and a port.
pub fn smarthost(s: &str) -> Result<(), String> {
    let ok = s.rsplit_once(':').is_some_and(|(host, port)| {
        let host_ok = domain(host).is_ok() || host.parse::<std::net::Ipv4Addr>().is_ok();
        host_ok && port.parse::<u16>().is_ok_and(|p| p > 0)
    });
    ok.then_some(())
        .ok_or_else(|| "an SMTP server like smtp.example.com:587".into())
}

/// A Slack channel (`#vutler-alerts`).
pub fn slack_channel(s: &str) -> Result<(), String> {
    let rest = s.strip_prefix('#').unwrap_or("");
    let ok = !rest.is_empty()
        && rest.len() <= 80
        && all(rest, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
        });
    ok.then_some(())
        .ok_or_else(|| "a Slack channel like #vutler-alerts".into())
}

/// An identifier for Grafana uids and units: `[A-Za-z0-9_-]`, 1 to 40 characters.
pub fn uid(s: &str) -> Result<(), String> {
    let ok = !s.is_empty() && s.len() <= 40 && all(s, |c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    ok.then_some(())
        .ok_or_else(|| "1 to 40 letters, digits, `_` or `-`".into())
}

/// An S3 URL (`s3://vutler-backups/daily`): a bucket name and an optional key prefix.
pub fn s3_url(s: &str) -> Result<(), String> {
    let rest = s.strip_prefix("s3://").unwrap_or("");
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && all(bucket, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
        });
    let prefix_ok = prefix.is_empty() || (path_chars(prefix) && no_dot_segments(prefix) && !prefix.contains("//"));
    (bucket_ok && prefix_ok)
        .then_some(())
        .ok_or_else(|| "an S3 URL like s3://vutler-backups/daily".into())
}

/// An HTTP(S) URL of a server: `http://` or `https://`, a host name or IPv4 address, an
/// optional port and an optional path; no credentials, query or fragment.
pub fn http_url(s: &str) -> Result<(), String> {
    let expected = || "an HTTP(S) URL like https://s3.example.com (no credentials, query or fragment)".to_owned();
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(expected)?;
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let (host, port) = authority
        .split_once(':')
        .map_or((authority, None), |(h, p)| (h, Some(p)));
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && all(host, |c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !host.starts_with(['-', '.'])
        && !host.ends_with('-');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    let path_ok = path.is_empty() || (path_chars(path) && no_dot_segments(path));
    (host_ok && port_ok && path_ok).then_some(()).ok_or_else(expected)
}

/// A host IP address to bind a published port to.
pub fn host_ip(s: &str) -> Result<IpAddr, String> {
    s.parse::<IpAddr>().map_err(|_| "an IP address like 127.0.0.1".into())
}

/// A variable's default value, written into `${VAR:-default}` and `.env`: printable ASCII without
/// `$`, braces, `#`, quotes or backslashes, and no space at either end.
pub fn env_default(s: &str) -> Result<(), String> {
    let ok = s.trim() == s
        && all(s, |c| c.is_ascii_graphic() || c == ' ')
        && !s.contains(['$', '{', '}', '#', '"', '\'', '\\', '`']);
    ok.then_some(())
        .ok_or_else(|| "a plain value without `$`, braces, `#`, quotes or surrounding spaces".into())
}

/// A placeholder for a secret in `.env.example`: `<strong-password>`, never a value. It says
/// what goes there in two words or more, lower case; a word with digits is short (`s3`, `v2`),
/// so that `<hunter2>` or `<Tr0ub4dor>` are not taken for one.
pub fn placeholder(s: &str) -> Result<(), String> {
    let inner = s.strip_prefix('<').and_then(|r| r.strip_suffix('>')).unwrap_or("");
    let words: Vec<&str> = inner.split(['-', '_', ' ', '.']).filter(|w| !w.is_empty()).collect();
    let ok = words.len() >= 2
        && all(inner, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | ' ' | '.')
        })
        && words
            .iter()
            .all(|w| w.len() <= 3 || !w.chars().any(|c| c.is_ascii_digit()));
    ok.then_some(())
        .ok_or_else(|| "a placeholder like <strong-password>, never a real value".into())
}

/// Free text that ends up in a comment or a quoted value: one line, no control characters.
pub fn one_line(s: &str) -> Result<(), String> {
    (!s.chars().any(char::is_control))
        .then_some(())
        .ok_or_else(|| "a single line of text".into())
}

/// Free text that may span lines (an alert's description): no control characters besides
/// line feeds.
pub fn prose(s: &str) -> Result<(), String> {
    (!s.chars().any(|c| c.is_control() && c != '\n'))
        .then_some(())
        .ok_or_else(|| "text without control characters other than line breaks".into())
}

/// An alert name: letters, digits and `_` (`HighErrorRate`).
pub fn alert_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty() && s.len() <= 128 && all(s, |c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(())
        .ok_or_else(|| "an alert name like HighErrorRate".into())
}

/// Parts of key names that make a key secret-looking (compared in upper case, with `-` and `.`
/// read as `_`). A key ending in `_KEY` is secret-looking too.
pub const SECRET_KEY_PARTS: [&str; 11] = [
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "SECRET",
    "TOKEN",
    "PRIVATE_KEY",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
    "CREDENTIAL",
    "WEBHOOK",
];

/// Whether a key name looks like it holds a secret: it contains one of [`SECRET_KEY_PARTS`] or
/// ends in `_KEY` or one of [`SECRET_KEY_SUFFIXES`], ignoring case, with `-` and `.` read as `_` (`api-key`, `smtp.password`).
/// The model refuses literal values in such variables; `check` redacts their values in diffs.
pub fn secret_looking_key(key: &str) -> bool {
    let key: String = key
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    key.ends_with("_KEY")
        || SECRET_KEY_SUFFIXES.iter().any(|suffix| key.ends_with(suffix))
        || SECRET_KEY_PARTS.iter().any(|part| key.contains(part))
}

/// Endings of secret-looking key names besides `_KEY` (`DATA_SOURCE_PASS`, `DB_PWD`): too short
/// to look for anywhere in a name (`PASSTHROUGH`, `PWD` alone is the working directory).
pub const SECRET_KEY_SUFFIXES: [&str; 2] = ["_PASS", "_PWD"];

/// Where a command line passes a password as a literal: the index of the argument, and what
/// passes it (`` `--password` ``, `` `PGPASSWORD=` ``, a URL's `user:password@`). Arguments are also read as
/// the words of a shell line (`sh -c "PGPASSWORD=x psql"`), their quotes removed. A value that
/// starts with `$` is a reference (to the container's environment, or to the spec's variables),
/// not a literal; flags that name a file or a stream (`--password-file`, `--password-stdin`) pass
/// no password.
///
/// ```
/// use vutler_spec::grammar::literal_password;
///
/// assert_eq!(literal_password(&["psql", "--password=hunter2"]).map(|(i, _)| i), Some(1));
/// assert_eq!(literal_password(&["redis-server", "--requirepass", "hunter2"]).map(|(i, _)| i), Some(2));
/// assert!(literal_password(&["sh", "-c", "PGPASSWORD=hunter2 psql -h db"]).is_some());
/// assert!(literal_password(&["redis-server", "--requirepass", "$REDIS_PASSWORD"]).is_none());
/// assert!(literal_password(&["app", "--password-file", "/run/secrets/db"]).is_none());
/// assert!(literal_password(&["pg_isready", "-U", "vutler"]).is_none());
/// assert!(literal_password(&["postgres", "-c", "password_encryption=scram-sha-256"]).is_none());
/// ```
pub fn literal_password<S: AsRef<str>>(args: &[S]) -> Option<(usize, String)> {
    let words: Vec<(usize, &str)> = args
        .iter()
        .enumerate()
        .flat_map(|(i, a)| {
            a.as_ref()
                .split_whitespace()
                .map(move |w| (i, w.trim_matches(['"', '\'', ';'])))
        })
        .collect();
    let literal = |v: &str| !v.is_empty() && !v.starts_with('$') && !v.starts_with('-');
    for (n, (i, word)) in words.iter().enumerate() {
        if has_url_password(word) {
            return Some((*i, "`user:password@` in a URL".into()));
        }
        if let Some(flag) = word.strip_prefix('-') {
            let flag = flag.trim_start_matches('-');
            match flag.split_once('=') {
                Some((name, value)) if password_flag(name) && literal(value.trim_matches(['"', '\''])) => {
                    return Some((*i, format!("`--{name}`")));
                }
                Some(_) => {}
                None if password_flag(flag) => {
                    if let Some((j, value)) = words.get(n + 1)
                        && literal(value)
                    {
                        return Some((*j, format!("`--{flag}`")));
                    }
                }
                None => {}
            }
        } else if let Some((name, value)) = word.split_once('=')
            && !name.is_empty()
            // An environment assignment (`PGPASSWORD=...`): an upper-case name. A lower-case
            // one is a setting (`-c password_encryption=scram-sha-256`).
            && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && secret_looking_key(name)
            && literal(value.trim_matches(['"', '\'']))
        {
            return Some((*i, format!("`{name}=`")));
        }
    }
    None
}

/// Whether a command-line flag takes a password: a secret-looking name, or one of the servers'
/// own (`--requirepass`, `--masterauth`), but not one naming where the password is read from.
fn password_flag(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let names_a_source = ["file", "stdin", "env", "path", "cmd", "command"]
        .iter()
        .any(|s| lower.ends_with(s));
    !names_a_source && (secret_looking_key(name) || matches!(lower.as_str(), "requirepass" | "masterauth" | "pass"))
}

/// Whether a word holds a URL with a literal password (`scheme://user:password@host`).
fn has_url_password(word: &str) -> bool {
    let Some(at) = word.find("://") else {
        return false;
    };
    let rest = &word[at + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority
        .rfind('@')
        .and_then(|a| authority[..a].split_once(':'))
        .is_some_and(|(_, password)| !password.is_empty() && !password.starts_with('$'))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Check = fn(&str) -> Result<(), String>;

    const HOSTILE: [&str; 8] = ["a;b", "a\nb", "$(id)", "`id`", "a'b", "a\"b", "{a}", "a b"];

    #[test]
    fn placeholders_describe_and_are_no_value() {
        for ok in [
            "<strong-password>",
            "<s3-access-key-id>",
            "<admin password>",
            "<api_key.v2>",
        ] {
            assert!(placeholder(ok).is_ok(), "{ok}");
        }
        for bad in [
            "<hunter2>",
            "<password>",
            "<Tr0ub4dor-x>",
            "<pass-hunter22>",
            "strong-password",
            "<>",
            "<a b>x",
        ] {
            assert!(placeholder(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostile_values_fail_every_grammar() {
        let checks: [Check; 11] = [
            name,
            env_name,
            domain,
            absolute_path,
            host_path,
            tree_path,
            file_name,
            image_repo,
            image_tag,
            cipher,
            s3_url,
        ];
        for check in checks {
            for h in HOSTILE {
                assert!(check(h).is_err(), "{h:?}");
                assert!(check(&format!("/x/{h}")).is_err(), "{h:?}");
            }
        }
    }

    #[test]
    fn typical_values_pass() {
        assert!(domain("vutler.example.com").is_ok());
        assert!(domain("vutler.localhost").is_ok());
        assert!(domain("localhost").is_err());
        assert!(domain("-a.com").is_err());
        assert!(absolute_path("/var/lib/postgresql/data").is_ok());
        assert!(absolute_path("/var/../etc").is_err());
        assert!(host_path("./nginx/ssl").is_ok());
        assert!(host_path("../x").is_err());
        assert!(tree_path("nginx/nginx.conf").is_ok());
        assert!(image_repo("quay.io/minio/minio").is_ok());
        assert!(image_repo("Vutler/App").is_err());
        assert!(s3_url("s3://vutler-backups/daily").is_ok());
        assert!(s3_url("https://x").is_err());
        assert!(host_ip("127.0.0.1").is_ok());
        assert!(slack_channel("#vutler-alerts").is_ok());
    }

    #[test]
    fn secret_looking_keys() {
        for key in [
            "POSTGRES_PASSWORD",
            "api-key",
            "smtp.password",
            "SLACK_WEBHOOK_URL",
            "AWS_ACCESS_KEY_ID",
        ] {
            assert!(secret_looking_key(key), "{key}");
        }
        for key in ["POSTGRES_USER", "KEYCLOAK_URL", "MONGO_URL", "PORT"] {
            assert!(!secret_looking_key(key), "{key}");
        }
    }
}
