//! cudarc's driver and cuBLAS errors become [`ExecError`]s naming the step that
//! failed.

use crate::exec::ExecError;
use cudarc::{cublas, driver};

pub(crate) fn drv(during: &'static str) -> impl Fn(driver::DriverError) -> ExecError {
    move |e| ExecError::Driver {
        during,
        message: format!("{e:?}"),
    }
}

pub(super) fn blas_err(during: &'static str) -> impl Fn(cublas::result::CublasError) -> ExecError {
    move |e| ExecError::Cublas {
        during,
        message: format!("{e:?}"),
    }
}
