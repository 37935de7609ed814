//! A small network over three epochs: five nodes register storage units (plot, then an
//! initialization proof), then each epoch prove their inference task and their storage; the
//! verifier accounts for each submission and splits the epoch's reward.
//!
//! Two nodes cheat: `mallory` deleted half of her plot after registering it (she answers with
//! garbage where the labels are gone), and `trent` claims a wrong output in epoch 1 and replays
//! his epoch-1 proofs in epoch 2.
//!
//! Run: `cargo run --release -p zkml-core --example network_sim`

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use zkml_core::consensus::{
    split_rewards, Contribution, Epoch, EpochVerifier, InferenceSubmission, RegisteredModel, RewardWeights, SpaceProof,
    StorageSubmission, Submission, UnitRegistry,
};
use zkml_core::space::snark::{storage_shape, StorageKeys};
use zkml_core::space::{compress, Beacon, NodeIdentity, Plot, SpaceParams};
use zkml_core::{compile, fixtures, prove, setup, CompileOptions, InputVisibility, VerifierKeys};

const EPOCH_REWARD: u64 = 1_000_000;

struct Node {
    name: &'static str,
    plots: Vec<Plot>,
    compressed: bool,
}

fn beacon(label: &str) -> Beacon {
    Beacon(*blake3::hash(label.as_bytes()).as_bytes())
}

/// Overwrites every other stored label with zeros: the data is gone, the file size is not.
fn delete_half(plot_dir: &Path, nodes: u64) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).open(plot_dir.join("tree_r.bin"))?;
    for v in (0..nodes).step_by(2) {
        f.seek(SeekFrom::Start(v * 32))?;
        f.write_all(&[0; 32])?;
    }
    Ok(())
}

fn main() -> zkml_core::Result<()> {
    let work = std::env::temp_dir().join(format!("zkml-network-sim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);

    // The network's model: an MLP 16-8-4 with a public input, so that the verifier can check
    // that each proof answers the node's own challenge input.
    println!("registering the model (MLP 16-8-4, public input) ...");
    let samples = fixtures::random_samples(16, 32, 4);
    let options = CompileOptions { input_visibility: InputVisibility::Public, ..CompileOptions::default() };
    let compiled = compile(&fixtures::mlp_onnx(&[16, 8, 4], 3), &samples, &options)?;
    let keys = setup(&compiled, zkml_core::srs::insecure_dev_srs(compiled.settings.k)?.0, |_| {})?;
    let verifier_keys = VerifierKeys { srs: keys.srs().clone(), vk: keys.vk().clone() };
    let models = [RegisteredModel::new(compiled.settings.clone(), verifier_keys)?];

    // Storage units: 2^10 labels (32 KiB) with the small testing parameters.
    let params = SpaceParams::testing(10);
    let storage_keys = StorageKeys::generate(&params, zkml_core::srs::insecure_dev_srs(storage_shape(&params).k())?.0)?;
    let mut registry = UnitRegistry::new();
    let mut nodes = Vec::new();
    for (name, units, compressed) in
        [("alice", 1, false), ("bob", 2, false), ("carol", 1, true), ("mallory", 1, false), ("trent", 1, false)]
    {
        let mut plots = Vec::new();
        for unit in 0..units {
            let identity = NodeIdentity {
                network_id: [42; 32],
                node_key: name.as_bytes().to_vec(),
                unit_index: unit,
                registration_beacon: beacon("registration"),
            };
            let plot = Plot::create(&work.join(format!("{name}-{unit}")), &params, &identity, |_, _, _| {})?;
            let init_beacon = beacon("after registration");
            let init = plot.prove_init(&init_beacon)?;
            registry.register(plot.registration().clone(), &init_beacon, &init)?;
            plot.discard_layers()?;
            plots.push(plot);
        }
        nodes.push(Node { name, plots, compressed });
    }
    let units: usize = nodes.iter().map(|n| n.plots.len()).sum();
    println!("registered {units} units of {} KiB for {} nodes", params.unit_bytes() / 1024, nodes.len());
    delete_half(nodes[3].plots[0].dir(), params.nodes()).map_err(|e| zkml_core::Error::Io { path: work.clone(), error: e })?;
    println!("mallory deleted half of her unit");

    let weights = RewardWeights { compute: 1, space: 1 };
    let mut trent_epoch1 = None;
    let mut totals = vec![0u64; nodes.len()];
    for number in 0..3 {
        let epoch = Epoch { number, beacon: beacon(&format!("epoch {number}")) };
        let mut verifier = EpochVerifier::new(epoch, &models, &registry).with_storage_keys(
            params,
            storage_keys.srs(),
            storage_keys.vk(),
        );
        let mut outcomes = Vec::new();
        for node in &nodes {
            let task = epoch.poi_task(&models[0], node.name.as_bytes());
            let mut proof = prove(&compiled, &keys, &task.input)?;
            let storage = node
                .plots
                .iter()
                .map(|plot| {
                    let proof = plot.prove_storage(&epoch.beacon)?;
                    let proof = if node.compressed {
                        SpaceProof::Compressed(compress(plot.registration(), &storage_keys, &proof)?)
                    } else {
                        SpaceProof::Native(proof)
                    };
                    Ok(StorageSubmission { unit_index: plot.registration().identity.unit_index, proof })
                })
                // Mallory's proof is built from what is left of her plot.
                .collect::<zkml_core::Result<Vec<_>>>()?;
            let mut submission = Submission {
                epoch: number,
                node_key: node.name.as_bytes().to_vec(),
                inferences: vec![InferenceSubmission { model: models[0].id, proof: proof.clone() }],
                storage,
            };
            if node.name == "trent" {
                match number {
                    1 => {
                        trent_epoch1 = Some(submission.clone());
                        proof.outputs[0] += 1.0;
                        submission.inferences[0].proof = proof;
                    }
                    2 => {
                        let mut replay = trent_epoch1.clone().expect("epoch 1 ran");
                        replay.epoch = number;
                        submission = replay;
                    }
                    _ => {}
                }
            }
            outcomes.push(verifier.verify(&submission));
        }
        let contributions: Vec<Contribution> =
            outcomes.iter().map(|o| o.as_ref().copied().unwrap_or_default()).collect();
        let rewards = split_rewards(EPOCH_REWARD, weights, &contributions);
        println!("\nepoch {number} (reward {EPOCH_REWARD}, weights compute {} : space {})", weights.compute, weights.space);
        println!("| node | compute units | space (KiB) | reward | verdict |");
        println!("|---|---|---|---|---|");
        for (i, node) in nodes.iter().enumerate() {
            let c = contributions[i];
            let verdict = match &outcomes[i] {
                Ok(_) => "accepted".to_string(),
                Err(rejection) => format!("rejected: {rejection}"),
            };
            totals[i] += rewards[i];
            println!("| {} | {} | {} | {} | {} |", node.name, c.compute_units, c.space_bytes / 1024, rewards[i], verdict);
        }
    }
    println!("\ntotal rewards over 3 epochs:");
    for (node, total) in nodes.iter().zip(&totals) {
        println!("  {:8} {total}", node.name);
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
