//! Strings that reach rendered files, as types that can only be made by parsing.
//!
//! Every string of the validated model that a renderer writes into NGINX directives, shell
//! scripts, crontabs, YAML keys or comments is one of these newtypes. The only way to make one is
//! its `parse`, which applies the strict grammar of [`crate::grammar`], so a library caller
//! cannot hand a renderer a domain, path or name that carries a directive or a command:
//!
//! ```
//! use vutler_spec::text::{Domain, Name, AbsolutePath};
//!
//! assert!(Domain::parse("vutler.example.com").is_ok());
//! assert!(Domain::parse("vutler.example.com; return 200").is_err());
//! assert!(Domain::parse("vutler.example.com\nreturn 200;").is_err());
//! assert!(Name::parse("app;reboot").is_err());
//! assert!(AbsolutePath::parse("/srv/$(id)").is_err());
//! ```
//!
//! The inner string is private, so there is no other way in:
//!
//! ```compile_fail
//! let evil = vutler_spec::text::Domain(String::from("x.com;\nreturn 200"));
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::Serialize;

use crate::grammar;

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses a value; `Err` says what was expected.
            pub fn parse(text: &str) -> Result<Self, String> {
                $check(text).map(|()| Self(text.to_owned()))
            }

            /// The value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            // `pad` keeps width and alignment (`{name:<12}`), as `str` does.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

text_type!(
    /// A name of a service, volume, network, job, port or other entry, and of the project and
    /// the environment: `[a-z][a-z0-9_-]*`, at most 63 characters.
    Name,
    grammar::name
);
text_type!(
    /// An environment variable name (`POSTGRES_PASSWORD`).
    EnvName,
    grammar::env_name
);
text_type!(
    /// A DNS name (`vutler.example.com`).
    Domain,
    grammar::domain
);
text_type!(
    /// An absolute path of letters, digits and `/._-`, without `.`/`..` segments.
    AbsolutePath,
    grammar::absolute_path
);
text_type!(
    /// A host path for a bind mount: absolute, or `./relative` to the deployment folder.
    HostPath,
    grammar::host_path
);
text_type!(
    /// A path inside the rendered tree (`nginx/nginx.conf`).
    TreePath,
    grammar::tree_path
);
text_type!(
    /// A file name without folders (`fullchain.pem`).
    FileName,
    grammar::file_name
);
text_type!(
    /// An HTTP path (`/metrics`).
    UrlPath,
    grammar::url_path
);
text_type!(
    /// An image repository (`postgres`, `quay.io/minio/minio`).
    ImageRepo,
    grammar::image_repo
);
text_type!(
    /// An image tag (`16.4-alpine`); never `latest` in a validated [`Image`].
    ImageTag,
    grammar::image_tag
);
text_type!(
    /// An OpenSSL cipher name (`ECDHE-RSA-AES256-GCM-SHA384`).
    Cipher,
    grammar::cipher
);
text_type!(
    /// A Prometheus metric name.
    MetricName,
    grammar::metric_name
);
text_type!(
    /// An alert name (`HighErrorRate`).
    AlertName,
    grammar::alert_name
);
text_type!(
    /// An email address (`ops@example.com`).
    EmailAddress,
    grammar::email
);
text_type!(
    /// An SMTP server, `host:port` (`smtp.example.com:587`).
    Smarthost,
    grammar::smarthost
);
text_type!(
    /// A Slack channel (`#vutler-alerts`).
    SlackChannel,
    grammar::slack_channel
);
text_type!(
    /// A Grafana uid or unit id: 1 to 40 letters, digits, `_` or `-`.
    Uid,
    grammar::uid
);
text_type!(
    /// An S3 URL (`s3://vutler-backups/daily`).
    S3Url,
    grammar::s3_url
);
text_type!(
    /// An HTTP(S) URL of a server: scheme, host and an optional port and path, without
    /// credentials, query or fragment (`https://s3.eu-central-003.backblazeb2.com`).
    HttpUrl,
    grammar::http_url
);
text_type!(
    /// A variable's default value, as written into `${VAR:-default}` and `.env`.
    EnvDefault,
    grammar::env_default
);
text_type!(
    /// Free text on one line, without control characters (descriptions, summaries, commands).
    OneLine,
    grammar::one_line
);
text_type!(
    /// Free text that may span lines (an alert's description), without other control
    /// characters.
    Prose,
    grammar::prose
);

impl OneLine {
    /// A title or name shown to people (a dashboard's, a panel's): not blank, 200 characters at
    /// most.
    pub fn parse_title(text: &str) -> Result<Self, String> {
        let ok = !text.trim().is_empty() && text.chars().count() <= 200;
        let expected = || "a title of 1 to 200 characters, not blank".to_owned();
        ok.then_some(()).ok_or_else(expected)?;
        Self::parse(text).map_err(|_| expected())
    }
}

impl S3Url {
    /// The bucket (`vutler-backups`).
    pub fn bucket(&self) -> &str {
        let rest = &self.0["s3://".len()..];
        rest.split_once('/').map_or(rest, |(bucket, _)| bucket)
    }

    /// The key prefix inside the bucket, without slashes at either end (`daily`; may be empty).
    pub fn prefix(&self) -> &str {
        let rest = &self.0["s3://".len()..];
        rest.split_once('/').map_or("", |(_, prefix)| prefix.trim_matches('/'))
    }
}

impl AbsolutePath {
    /// The path of `relative` (a rendered tree path, or a part of one) under this folder; `None`
    /// when `relative` is not a tree path (whose grammar is narrower than a path's segments).
    pub(crate) fn join(&self, relative: &str) -> Option<AbsolutePath> {
        match relative {
            "" => Some(self.clone()),
            rest => grammar::tree_path(rest)
                .ok()
                .map(|()| AbsolutePath(format!("{}/{rest}", self.0.trim_end_matches('/')))),
        }
    }

    /// The folder holding this path (`/` for a top-level entry).
    pub fn parent(&self) -> AbsolutePath {
        match self.0.rsplit_once('/') {
            Some(("", _)) | None => AbsolutePath("/".to_owned()),
            Some((dir, _)) => AbsolutePath(dir.to_owned()),
        }
    }

    /// The last segment.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

/// Why an image reference was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// No `:tag`.
    NoTag,
    /// The `latest` tag.
    Latest,
    /// The repository or the tag is outside its grammar; the text says what was expected.
    Grammar(String),
}

/// An image reference with a pinned tag other than `latest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Image {
    repo: ImageRepo,
    tag: ImageTag,
}

impl Image {
    /// Parses `repo:tag`.
    pub fn parse(text: &str) -> Result<Self, ImageError> {
        let (repo, tag) = match text.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, tag),
            _ => return Err(ImageError::NoTag),
        };
        let repo = ImageRepo::parse(repo).map_err(ImageError::Grammar)?;
        let tag = ImageTag::parse(tag).map_err(ImageError::Grammar)?;
        if tag == "latest" {
            return Err(ImageError::Latest);
        }
        Ok(Self { repo, tag })
    }

    /// The repository.
    pub fn repo(&self) -> &ImageRepo {
        &self.repo
    }

    /// The tag.
    pub fn tag(&self) -> &ImageTag {
        &self.tag
    }
}

impl fmt::Display for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repo, self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_pin_a_tag() {
        let image = Image::parse("quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z");
        assert_eq!(image.as_ref().map(|i| i.repo().as_str()), Ok("quay.io/minio/minio"));
        assert_eq!(Image::parse("postgres"), Err(ImageError::NoTag));
        assert_eq!(Image::parse("localhost:5000/app"), Err(ImageError::NoTag));
        assert_eq!(Image::parse("postgres:latest"), Err(ImageError::Latest));
        assert!(matches!(Image::parse("Postgres:16"), Err(ImageError::Grammar(_))));
    }

    #[test]
    fn container_paths_join_and_split() {
        let dir = AbsolutePath::parse("/etc/grafana").unwrap_or_else(|e| panic!("{e}"));
        let join = |rest: &str| dir.join(rest).map(String::from);
        assert_eq!(join("dashboards").as_deref(), Some("/etc/grafana/dashboards"));
        assert_eq!(join("").as_deref(), Some("/etc/grafana"));
        let parent = dir.join("a/b.json").map(|p| p.parent().to_string());
        assert_eq!(parent.as_deref(), Some("/etc/grafana/a"));
        assert_eq!(dir.parent(), "/etc");
        assert_eq!(dir.parent().parent(), "/");
        let name = dir.join("x.yml").map(|p| p.file_name().to_owned());
        assert_eq!(name.as_deref(), Some("x.yml"));
        // Nothing outside a tree path's grammar gets in.
        assert_eq!(join("x;\nreturn 200"), None);
        assert_eq!(join("../etc"), None);
    }

    #[test]
    fn newtypes_compare_with_text() {
        let name = Name::parse("vutler").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(name, "vutler");
        assert_eq!(name.len(), 6);
        assert!(Name::parse("Vutler").is_err());
    }
}
