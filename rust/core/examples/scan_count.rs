//! One call of one kernel, for instruction counting under callgrind:
//! `valgrind --tool=callgrind target/release/examples/scan_count KERNEL N C`.
use ndarray::Array2;
use pseudolabel_core::*;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kernel = args.first().map(String::as_str).unwrap_or("summarize");
    let n: usize = args.get(1).map_or(200_000, |a| a.parse().unwrap());
    let c: usize = args.get(2).map_or(10, |a| a.parse().unwrap());
    let mut x: u64 = 1;
    let mut p = Array2::<f32>::zeros((n, c));
    for v in p.iter_mut() {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *v = (x >> 40) as f32 / (1u64 << 24) as f32;
    }
    set_num_threads(1).unwrap();
    let m = Matrix::new(p.view()).unwrap();
    let mut sp = SelectParams::new(Score::Confidence);
    match kernel {
        "summarize" => drop(summarize(&m, false).unwrap()),
        "entropy" => drop(summarize(&m, true).unwrap()),
        "threshold" => {
            sp.threshold = Some(Threshold::Global(0.9));
            drop(select(&m, &sp).unwrap())
        }
        "topk" => {
            sp.k = Some(n / 100);
            drop(select(&m, &sp).unwrap())
        }
        "none" => {}
        other => panic!("unknown kernel {other}"),
    }
}
