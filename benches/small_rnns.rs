//! Training throughput of the hand-written small RNNs (Dorrell et al. 2025): the Fig 3a–b
//! linear RNN (16 units, one sequence of 200 steps, Adam + clip) and the Fig 4
//! action-conditioned RNN (64 units, 10 rooms × 26 states) and the Fig 3f–g student (64 ReLU
//! units, 128 sequences × 20 steps, GECO). Prints a markdown table and, last,
//! `frequency_iterations_per_second=…`, `entorhinal_iterations_per_second=…` and
//! `student_iterations_per_second=…` for scripts/bench_small_rnns_vs_jax.py.
//! `cargo bench --bench small_rnns [-- SECONDS]`.

use std::time::Instant;

use modrepro::data::frequency_task::{Drive, TimeBase, sequence};
use modrepro::data::grid_room::{RewardPlacement, random_walks};
use modrepro::data::teacher_rnn::{StateRange, Teacher, sequences};
use modrepro::model::adam::AdamSettings;
use modrepro::model::frequency_rnn::{self, Activation, Objective, Shape, Training, Weights};
use modrepro::model::{action_rnn, student_rnn};
use modrepro::rng::SplitMix64;

fn main() {
    let seconds: f64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(3.0);
    println!("| model | work per iteration | iterations / s | ms / iteration |");
    println!("| --- | --- | --- | --- |");

    let seq = sequence(Drive::AtTargets, (3.7, 6.1), TimeBase { steps: 200, dt: 0.1 });
    let objective = Objective {
        target: 1.0,
        activity: 0.5,
        weight: 0.02,
        positivity: 5.0,
        weight_per_entry: false,
    };
    let shape = Shape {
        hidden: 16,
        inputs: 2,
        outputs: 2,
    };
    let per_call = 2000;
    let training = Training {
        iterations: per_call,
        learning_rate: 1e-3,
        clip_norm: 2.0,
        beta_1: 0.9,
        beta_2: 0.999,
        epsilon: 1e-8,
    };
    let started = Instant::now();
    let mut done = 0;
    while started.elapsed().as_secs_f64() < seconds {
        frequency_rnn::train(
            Weights::init(shape, 1),
            Activation::Linear,
            &objective,
            &training,
            &seq,
            |_| {},
        );
        done += per_call;
    }
    let frequency = done as f64 / started.elapsed().as_secs_f64();
    println!(
        "| Fig 3a–b linear RNN, 16 units | 1 × 200 steps | {frequency:.0} | {:.3} |",
        1e3 / frequency
    );
    // Four runs side by side in vector lanes, as the artefacts train them: iterations of one run,
    // four of them counted per group iteration.
    let pair_sequences: Vec<_> = [(3.7, 6.1), (2.0, 5.0), (1.3, 4.4), (7.0, 2.2)]
        .map(|pair| sequence(Drive::AtTargets, pair, TimeBase { steps: 200, dt: 0.1 }))
        .into();
    let runs: Vec<_> = pair_sequences
        .iter()
        .enumerate()
        .map(|(k, s)| (Weights::init(shape, k as u64), s))
        .collect();
    let started = Instant::now();
    let mut done = 0;
    while started.elapsed().as_secs_f64() < seconds {
        let mut callbacks = [|_| {}; 4];
        let mut callbacks = callbacks.each_mut().map(|c| c as &mut dyn FnMut(usize));
        frequency_rnn::train_side_by_side(&runs, Activation::Linear, &objective, &training, &mut callbacks);
        done += runs.len() * per_call;
    }
    let side_by_side = done as f64 / started.elapsed().as_secs_f64();
    println!(
        "| Fig 3a–b linear RNN, 16 units, 4 runs side by side | 1 × 200 steps | {side_by_side:.0} | {:.3} |",
        1e3 / side_by_side
    );

    let room = action_rnn::Shape {
        hidden: 64,
        inputs: 9,
        outputs: 18,
    };
    let placement = RewardPlacement {
        share_fixed: 0.5,
        fixed_cells: vec![(1, 1)],
    };
    let objective = action_rnn::Objective {
        fit: 100.0,
        fit_tolerance: 0.001,
        activity: 0.1,
        weight: 0.01,
        negativity: 100.0,
    };
    let adam = AdamSettings {
        learning_rate: 1e-3,
        beta_1: 0.9,
        beta_2: 0.999,
        epsilon: 1e-8,
    };
    let per_call = 200;
    let started = Instant::now();
    let mut done = 0;
    while started.elapsed().as_secs_f64() < seconds {
        let mut rng = SplitMix64::new(done as u64);
        action_rnn::train(
            action_rnn::Weights::init(room, 0.1, 1),
            &objective,
            adam,
            per_call,
            |_| {
                random_walks(10, 25, 3, &placement, &mut rng)
                    .iter()
                    .map(|w| w.episode(3))
                    .collect()
            },
            |_| {},
        );
        done += per_call;
    }
    let entorhinal = done as f64 / started.elapsed().as_secs_f64();
    println!(
        "| Fig 4 action-conditioned RNN, 64 units | 10 rooms × 26 states | {entorhinal:.0} | {:.3} |",
        1e3 / entorhinal
    );

    let data: Vec<_> = sequences(&Teacher::new(1), StateRange::Uniform, 1280, 20, 2)
        .into_iter()
        .map(|s| s.sequence)
        .collect();
    let student = Shape {
        hidden: 64,
        inputs: 2,
        outputs: 2,
    };
    let objective = Objective {
        target: 10.0,
        activity: 1.0,
        weight: 1.0,
        positivity: 0.0,
        weight_per_entry: true,
    };
    let per_call = 20;
    let training = student_rnn::Training {
        iterations: per_call,
        batch: 128,
        adam: AdamSettings {
            learning_rate: 2e-3,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
        },
        clip_norm: 2.0,
        geco: Some(student_rnn::Geco {
            tolerance: 3e-4,
            rate: 0.2,
            smoothing: 0.9,
        }),
    };
    // One thread, then two (the batch's columns cut in two parts; the same bits).
    let student_rate = |threads: usize| {
        let started = Instant::now();
        let mut done = 0;
        while started.elapsed().as_secs_f64() < seconds {
            student_rnn::train(
                student_rnn::init(student, 1),
                &objective,
                &training,
                &data,
                threads,
                |_| {},
            );
            done += per_call;
        }
        done as f64 / started.elapsed().as_secs_f64()
    };
    let (student_one, student_two) = (student_rate(1), student_rate(2));
    for (threads, rate) in [(1, student_one), (2, student_two)] {
        println!(
            "| Fig 3f–g ReLU student, 64 units, {threads} thread(s) | 128 sequences × 20 steps | {rate:.0} | {:.3} |",
            1e3 / rate
        );
    }
    println!("frequency_iterations_per_second={frequency:.1}");
    println!("entorhinal_iterations_per_second={entorhinal:.1}");
    println!("student_iterations_per_second={student_one:.1}");
    println!("student_two_threads_iterations_per_second={student_two:.1}");
}
