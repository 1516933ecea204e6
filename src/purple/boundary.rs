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

/// Run `$body` and turn a panic into `$default` (logged to the purple debug log).
///
/// The body is a closure body: use `return` inside it to leave early with a value.
macro_rules! ffi_boundary {
    ($default:expr, $body:block) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(_) => {
                $crate::purple::glue::debug_error("a callback panicked; refusing the operation");
                // Memory may have run ahead of disk: reload every conversation from the store.
                $crate::purple::state::after_panic();
                $default
            }
        }
    }};
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

pub(crate) use ffi_boundary;
pub(crate) use non_null;
