//! Criterion benchmarks of the safeguards on typical messages.

fn main() {}
