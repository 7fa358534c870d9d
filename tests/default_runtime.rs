//! `subcast::default_runtime()` picks tokio inside a tokio runtime and smol elsewhere.

use std::sync::mpsc;

fn runs_a_task(runtime: &dyn subcast::Runtime) -> bool {
    let (tx, rx) = mpsc::channel();
    runtime.spawn(Box::pin(async move {
        let _ = tx.send(());
    }));
    rx.recv_timeout(std::time::Duration::from_secs(30)).is_ok()
}

#[test]
fn inside_a_tokio_runtime_the_default_is_tokio() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let _entered = tokio.enter();
    let runtime = subcast::default_runtime().expect("a runtime");
    assert!(format!("{runtime:?}").starts_with("TokioRuntime"), "{runtime:?}");
    assert!(runs_a_task(&*runtime));
}

#[test]
fn outside_tokio_the_default_is_a_process_wide_smol_runtime() {
    let runtime = subcast::default_runtime().expect("a runtime");
    assert!(format!("{runtime:?}").starts_with("SmolRuntime"), "{runtime:?}");
    assert!(runs_a_task(&*runtime));
    let again = subcast::default_runtime().unwrap();
    assert!(std::ptr::addr_eq(
        std::sync::Arc::as_ptr(&runtime),
        std::sync::Arc::as_ptr(&again)
    ));
}
