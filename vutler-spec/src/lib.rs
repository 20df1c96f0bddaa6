//! The typed model of the Vutler stack.
//!
//! Specs are read from a folder of YAML or TOML files (a base plus one overlay per environment),
//! merged, checked against every invariant the rendered files rely on, and returned as a
//! [`Stack`]. Every problem is collected as a [`Diagnostic`] with its spec path and file position;
//! nothing here prints or exits.
//!
//! ```
//! use vutler_spec::SpecFiles;
//!
//! let base = r#"
//! project: demo
//! domain: demo.example.com
//! target_vm: small
//! vms:
//!   small: { cpus: 2, memory: 4GB, disk: 40GB, monthly_usd: { min: 20 } }
//! variables:
//!   DB_PASSWORD: { description: Database password, group: Databases, secret: true }
//! networks: { net: {} }
//! volumes: { db-data: {} }
//! defaults:
//!   networks: [net]
//!   logging: { driver: json-file, max_size: 10MB, max_file: 3 }
//! services:
//!   db:
//!     image: postgres:16-alpine
//!     environment: { POSTGRES_PASSWORD: { secret: DB_PASSWORD } }
//!     mounts: [{ volume: db-data, target: /var/lib/postgresql/data }]
//!     healthcheck: { exec: [pg_isready], interval: 10s, timeout: 5s, retries: 5 }
//!     resources: { cpus: 1, memory: 2GB, disk: 20GB }
//!   proxy:
//!     image: nginx:1.27-alpine
//!     depends_on: [db]
//!     ports: [{ name: https, container: 443, published: 443, host_ip: 0.0.0.0 }]
//!     mounts: [{ bind: ./ssl, target: /etc/nginx/ssl, read_only: true }]
//!     resources: { cpus: 0.5, memory: 256MB, disk: 1GB }
//! edge: { proxy: proxy, upstream: db, upstream_port: pg, max_body_size: 10MB, read_timeout: 60s }
//! "#;
//! // TLS and the firewall are left out here (monitoring and backups are optional), so loading
//! // reports every required section that is missing, with its location:
//! let files = SpecFiles::new("staging", vec![("base.yaml".into(), base.into())], None);
//! let report = files.resolve().unwrap_err();
//! let missing: Vec<&str> = report.diagnostics.iter().map(|d| d.message.as_str()).collect();
//! assert_eq!(missing, ["missing field `tls`", "missing field `firewall`"]);
//! assert!(report.to_string().starts_with("base.yaml:2:1: error[type] missing field `tls` (help: every stack"));
//! assert_eq!(report.diagnostics[0].rule, vutler_spec::Rule::Type);
//! ```
//!
//! A complete stack loads into a [`Stack`], here the Vutler one of `specs/`:
//!
//! ```
//! use std::path::Path;
//! use vutler_spec::units::ByteSize;
//!
//! let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs"); // the repository's specs/
//! let loaded = vutler_spec::load(&specs, "production")?;
//! let stack = &loaded.stack;
//! assert_eq!(stack.vm().name, "production");
//! let app = stack.service_named("vutler").expect("the app");
//! assert_eq!(app.resources.map(|r| r.memory), ByteSize::parse("4GB").ok());
//! // Resource totals (seed 2.2) fit the VM, even with the scale-out plan's replicas.
//! assert!(stack.scaled_totals().memory <= stack.vm().memory);
//! # Ok::<(), vutler_spec::Report>(())
//! ```

#![deny(missing_docs)]

pub mod configs;
mod de;
pub mod diagnostic;
pub mod grammar;
pub mod hint;
pub mod interpolation;
pub mod load;
pub mod merge;
pub mod parallel;
pub mod path;
pub mod promql;
pub mod raw;
pub mod resolve;
pub mod rule;
pub mod schema;
pub mod source;
pub mod stack;
pub mod text;
pub mod tree;
pub mod units;

pub use diagnostic::{Diagnostic, Report, Severity};
pub use load::{Loaded, SpecFiles, SpecFolder, environments, load, read_dir};
pub use path::SpecPath;
pub use raw::RawStack;
pub use rule::Rule;
pub use source::{Sources, Span};
pub use stack::Stack;
