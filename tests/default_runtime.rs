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

/// What a forked child reports about its `default_runtime()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum ChildReport {
    FreshAndRunning = 0,
    HandedTheParents = 1,
    DoesNotRunTasks = 2,
    NotProcessWide = 3,
    NoRuntime = 4,
    Silent = 255,
}

fn address(runtime: &std::sync::Arc<dyn subcast::Runtime>) -> usize {
    std::sync::Arc::as_ptr(runtime) as *const () as usize
}

/// Fork; the child runs `child` and reports its byte over a pipe. Waits up to 30 s.
fn report_from_child(child: impl FnOnce() -> ChildReport) -> ChildReport {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe() writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let [read_end, write_end] = fds;
    // SAFETY: the child only runs `child`, writes one byte and `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let report = child() as u8;
        // SAFETY: writes one byte from a live local, then leaves without running destructors
        // (the parent's threads, which they would join, do not exist here).
        unsafe {
            libc::write(write_end, (&report as *const u8).cast(), 1);
            libc::_exit(0);
        }
    }
    // SAFETY: closing our copy of the write end, reading into a live local, polling a
    // descriptor we own, and reaping our own child.
    unsafe {
        libc::close(write_end);
        let mut poll = libc::pollfd {
            fd: read_end,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut byte = ChildReport::Silent as u8;
        if libc::poll(&mut poll, 1, 30_000) == 1 {
            libc::read(read_end, (&mut byte as *mut u8).cast(), 1);
        } else {
            libc::kill(pid, libc::SIGKILL);
        }
        libc::waitpid(pid, std::ptr::null_mut(), 0);
        libc::close(read_end);
        [
            ChildReport::FreshAndRunning,
            ChildReport::HandedTheParents,
            ChildReport::DoesNotRunTasks,
            ChildReport::NotProcessWide,
            ChildReport::NoRuntime,
        ]
        .into_iter()
        .find(|r| *r as u8 == byte)
        .unwrap_or(ChildReport::Silent)
    }
}

#[test]
fn a_forked_child_gets_a_fresh_process_wide_runtime_and_the_parent_keeps_its_own() {
    let parent = subcast::default_runtime().expect("a runtime");
    assert!(runs_a_task(&*parent));
    let parent_address = address(&parent);
    let report = report_from_child(|| match subcast::default_runtime() {
        None => ChildReport::NoRuntime,
        Some(child) if address(&child) == parent_address => ChildReport::HandedTheParents,
        Some(child) if !runs_a_task(&*child) => ChildReport::DoesNotRunTasks,
        Some(child) => match subcast::default_runtime() {
            Some(again) if address(&again) == address(&child) => ChildReport::FreshAndRunning,
            _ => ChildReport::NotProcessWide,
        },
    });
    assert_eq!(report, ChildReport::FreshAndRunning);
    assert!(runs_a_task(&*parent));
    let again = subcast::default_runtime().expect("a runtime");
    assert_eq!(address(&again), parent_address);
}
