//! `cargo bench -p vutler-render`: how long loading and rendering the production stack take.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};

fn production(c: &mut Criterion) {
    let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
    let files = vutler_spec::read_dir(&specs, "production").unwrap_or_else(|r| panic!("{r}"));
    let stack = files.resolve().unwrap_or_else(|r| panic!("{r}")).stack;
    c.bench_function("render production", |b| {
        b.iter(|| vutler_render::render(black_box(&stack)))
    });
    c.bench_function("load + validate production (from memory)", |b| {
        b.iter(|| black_box(&files).resolve())
    });
}

criterion_group!(benches, production);
criterion_main!(benches);
