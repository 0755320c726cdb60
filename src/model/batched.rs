//! Many small models trained as one tensor program: each parameter of R runs is one
//! [R, rows, cols] tensor (a run's matrix, or its bias as one row). The batched models (the
//! linear autoencoder of Fig 1c–d, the MLP autoencoder of Fig 2 centre, the what–where network
//! of Fig 2 left) stack their runs' parameters with [`stack`] and take them apart with
//! [`unstack`].

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};

/// One parameter of every run, stacked: `per_run` gives each run's `rows × cols` values
/// (row-major), in run order.
pub fn stack<'a>(
    per_run: impl Iterator<Item = &'a [f32]>,
    [rows, cols]: [usize; 2],
    device: &Device,
) -> Param<Tensor<3>> {
    let values: Vec<f32> = per_run.flatten().copied().collect();
    let runs = values.len() / (rows * cols).max(1);
    assert_eq!(
        values.len(),
        runs * rows * cols,
        "every run's parameter is {rows} × {cols}"
    );
    Param::from_tensor(Tensor::<3>::from_data(
        TensorData::new(values, [runs, rows, cols]),
        device,
    ))
}

/// A stacked parameter taken apart: each run's values, row-major, in run order.
pub fn unstack(tensor: Tensor<3>) -> Vec<Vec<f32>> {
    let [_, rows, cols] = tensor.dims();
    let values: Vec<f32> = tensor.into_data().try_to_vec::<f32>().expect("parameters are f32");
    values.chunks(rows * cols).map(<[f32]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unstack_returns_what_stack_was_given() {
        let device = Device::default();
        let runs = [
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            vec![7.0, 8.0, 9.0, 10.0, 11.0, 12.0],
        ];
        let stacked = stack(runs.iter().map(Vec::as_slice), [2, 3], &device);
        assert_eq!(stacked.val().dims(), [2, 2, 3]);
        assert_eq!(unstack(stacked.val()), runs);
    }
}
