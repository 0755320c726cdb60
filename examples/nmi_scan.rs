use modrepro::analysis::multiinfo::{Normalisation, normalised_multiinformation};
use modrepro::data::grid3d::{Manipulation, generate};
fn main() {
    let nmi = |m: Manipulation| {
        let g = generate(21, &m);
        (
            g.labels.len(),
            normalised_multiinformation(&g.labels, Normalisation::ByMaxAttainable),
        )
    };
    for c in [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0] {
        println!("corner {c}: {:?}", nmi(Manipulation::Corner { cut: c }));
    }
    for r in [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4] {
        println!("remove {r}: {:?}", nmi(Manipulation::DiagonalRemove { radius: r }));
    }
    for r in [0.05, 0.1, 0.15, 0.2] {
        for k in [1, 2, 4, 8] {
            println!(
                "strengthen {r} x{k}: {:?}",
                nmi(Manipulation::DiagonalStrengthen { radius: r, copies: k })
            );
        }
    }
}
#[allow(dead_code)]
fn unused() {}
