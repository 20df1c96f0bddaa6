//! Pure renderers from a validated [`vutler_spec::Stack`] to the files operators deploy.
//!
//! Architecture invariant: nothing in this crate touches the file system, the environment, the
//! clock or the terminal. A render is a function of the stack alone, so the same spec gives
//! byte-identical output on every machine.

mod rendered;
pub mod yaml;

pub use rendered::{Rendered, RenderedPathError};
