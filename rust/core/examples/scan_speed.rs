//! Single-process timing of the kernels on a synthetic matrix: `cargo run --release --example scan_speed -- N C`.
use ndarray::Array2;
use pseudolabel_core::*;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (n, c) = (args.first().copied().unwrap_or(1_000_000), args.get(1).copied().unwrap_or(10));
    let mut x: u64 = 1;
    let mut p = Array2::<f32>::zeros((n, c));
    for v in p.iter_mut() {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *v = (x >> 40) as f32 / (1u64 << 24) as f32;
    }
    let m = Matrix::new(p.view()).unwrap();
    for threads in [1, 2] {
        set_num_threads(threads).unwrap();
        let t = Instant::now();
        let s: f32 = p.as_slice().unwrap().iter().sum();
        let sum_t = t.elapsed().as_secs_f64();
        let mut best = [f64::INFINITY; 4];
        for _ in 0..5 {
            let t = Instant::now();
            let _ = summarize(&m, false).unwrap();
            best[0] = best[0].min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let _ = summarize(&m, true).unwrap();
            best[1] = best[1].min(t.elapsed().as_secs_f64());
            let mut sp = SelectParams::new(Score::Confidence);
            sp.threshold = Some(Threshold::Global(0.9));
            let t = Instant::now();
            let _ = select(&m, &sp).unwrap();
            best[2] = best[2].min(t.elapsed().as_secs_f64());
            let mut sp = SelectParams::new(Score::Confidence);
            sp.k = Some(n / 100);
            let t = Instant::now();
            let _ = select(&m, &sp).unwrap();
            best[3] = best[3].min(t.elapsed().as_secs_f64());
        }
        println!(
            "threads={threads} n={n} c={c}: serial sum {:.1} ms ({s:.0}); summarize {:.1} ms; +entropy {:.1} ms; threshold {:.1} ms; topk {:.1} ms",
            sum_t * 1e3, best[0] * 1e3, best[1] * 1e3, best[2] * 1e3, best[3] * 1e3
        );
    }
}
