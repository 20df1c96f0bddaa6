//! `cargo bench -p vutler-render`: how long each stage takes on the Vutler stack's production
//! environment (reading files aside), and all three environments at once. The scale benchmark,
//! whole-process on generated stacks of N services, is `cargo xtask bench-scale N...`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};

fn production(c: &mut Criterion) {
    let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
    let files = vutler_spec::read_dir(&specs, "production").unwrap_or_else(|r| panic!("{r}"));
    let stack = files.resolve().unwrap_or_else(|r| panic!("{r}")).stack;
    c.bench_function("load production (parse, join, overlay)", |b| {
        b.iter(|| black_box(&files).effective())
    });
    c.bench_function("load + validate production", |b| b.iter(|| black_box(&files).resolve()));
    c.bench_function("render production", |b| {
        b.iter(|| vutler_render::render(black_box(&stack)))
    });
    let all: Vec<_> = ["dev", "staging", "production"]
        .iter()
        .map(|env| vutler_spec::read_dir(&specs, env).unwrap_or_else(|r| panic!("{r}")))
        .collect();
    c.bench_function("load + validate + render every environment", |b| {
        b.iter(|| {
            for files in &all {
                let loaded = black_box(files).resolve().unwrap_or_else(|r| panic!("{r}"));
                black_box(vutler_render::render(&loaded.stack).unwrap_or_else(|e| panic!("{e}")));
            }
        })
    });
}

criterion_group!(benches, production);
criterion_main!(benches);
