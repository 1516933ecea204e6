//! The FFI boundary: every `extern "C"` body runs inside [`ffi_boundary!`], and every incoming
//! pointer is checked with [`non_null!`] before use.
//!
//! Since Rust 1.81 a panic that unwinds out of an `extern "C"` function aborts the process, which
//! would take Pidgin (and the user's unsent messages) down with it. The boundary catches the panic,
//! logs it, and returns a value that is safe for the caller: for the send path that means "do not
//! send" (the plaintext never leaves), for the receive path "drop the message" (nothing Sotto
//! did not check is shown as it came), for a write "cancel it" (no raw line is shown). After a
//! caught panic the in-memory conversations are dropped, so the next callback reloads them from
//! the store: a half-finished decision never runs ahead of what is on disk.
//!
//! What a panic prints: [`quiet_panics`] (run at every load) replaces the standard library's
//! hook, which writes the panic's message to stderr, with one that writes only where it
//! happened. A message may quote what it was given (a slice out of range quotes up to 256
//! bytes of the string), and in Sotto that string may be a decrypted message or what the user
//! typed: stderr goes to a terminal, a journal or `~/.xsession-errors`. The hook is our
//! cdylib's own (each Rust library in a process has its own standard library and hook), so
//! no other library's panics are touched.

/// Run `$body` and turn a panic into `$default` (logged to the purple debug log).
///
/// The body is a closure body: use `return` inside it to leave early with a value.
macro_rules! ffi_boundary {
    ($default:expr, $body:block) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(payload) => {
                // Each behind a catch of its own: a second fault here (in the log, in dropping
                // the loaded conversations, in the panic's own payload) must not unwind into
                // the host, which aborts it; a second fault's payload is leaked, not dropped.
                let quietly = |step: &mut dyn FnMut()| {
                    if let Err(again) =
                        ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(step))
                    {
                        ::std::mem::forget(again);
                    }
                };
                quietly(&mut || {
                    $crate::purple::glue::debug_error("a callback panicked; refusing the operation")
                });
                // Memory may have run ahead of disk: reload every conversation from the store.
                quietly(&mut || $crate::purple::state::after_panic());
                let mut payload = Some(payload);
                quietly(&mut || drop(payload.take()));
                $default
            }
        }
    }};
}

/// Runs `step` behind a catch of its own, for what runs after a caught panic: a second fault
/// there is swallowed (its payload leaked, not dropped: its drop could fault too).
pub(crate) fn quietly(step: impl FnOnce()) {
    if let Err(again) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)) {
        std::mem::forget(again);
    }
}

/// Early-return `$default` when `$ptr` is NULL (libpurple hands out NULL senders, conversations,
/// accounts and messages).
macro_rules! non_null {
    ($ptr:expr) => {
        if $ptr.is_null() {
            return;
        }
    };
    ($ptr:expr, $default:expr) => {
        if $ptr.is_null() {
            return $default;
        }
    };
}

/// Makes every later panic in this library print only its location (see the module doc),
/// never its message. Safe to run at every load: it replaces the hook it installed before.
pub(crate) fn quiet_panics() {
    if std::thread::panicking() {
        // `set_hook` panics on a panicking thread; never the case at a load.
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        use std::io::Write;
        let at = info.location().map_or_else(
            || "an unknown place".to_owned(),
            |l| format!("{}:{}:{}", l.file(), l.line(), l.column()),
        );
        // Not `eprintln!`: a failed write to stderr must not panic inside the hook.
        let _ = writeln!(
            std::io::stderr(),
            "Sotto: a fault at {at} (caught; its message is not printed: it may quote a message)"
        );
    }));
}

pub(crate) use ffi_boundary;
pub(crate) use non_null;

#[cfg(test)]
mod tests {
    /// A panic whose payload panics again when dropped (a type of another crate's, with a
    /// `Drop` that faults): the boundary drops it inside a catch of its own and returns its
    /// default. Dropped outside one, the second panic unwound out of the boundary, which in an
    /// `extern "C"` function aborts the host.
    #[test]
    fn a_fault_in_dropping_the_panics_payload_stays_inside() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("the payload's own drop");
            }
        }
        let answer: i32 = ffi_boundary!(7, { std::panic::panic_any(Bomb) });
        assert_eq!(answer, 7);
        // And an ordinary body returns its own value.
        let answer: i32 = ffi_boundary!(7, { 3 });
        assert_eq!(answer, 3);
    }
}
