//! Signal handlers, and the guard that disconnects them.

use std::ffi::{c_char, c_int, c_void};

use crate::protocol::{ReceiveAction, SecretString};
use crate::sessions::Outgoing;

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::glue::{self, cstr_to_string, ConvRef};
use super::markup;
use super::state::{self, with_state, HeldLine};
use super::texts::Shown;
use super::{echo, present, service, siblings, texts};

/// Which libpurple subsystem emits a signal (its handle is looked up again when disconnecting).
#[derive(Clone, Copy)]
pub(crate) enum Emitter {
    Conversations,
    Blist,
    Plugins,
    Core,
    Accounts,
    /// The XMPP protocol plugin (its own signals, e.g. `jabber-sending-xmlnode`); NULL when not
    /// loaded, and then nothing connects.
    Jabber,
    /// The IRC protocol plugin (`irc-sending-text`, `irc-receiving-text`); likewise.
    Irc,
    /// Connections (`signing-off`).
    Connections,
}

impl Emitter {
    fn handle(self) -> *mut c_void {
        // SAFETY: these return libpurple's static subsystem handles.
        unsafe {
            match self {
                Emitter::Conversations => sys::purple_conversations_get_handle(),
                Emitter::Blist => sys::purple_blist_get_handle(),
                Emitter::Plugins => sys::purple_plugins_get_handle(),
                Emitter::Core => sys::purple_get_core().cast(),
                Emitter::Accounts => sys::purple_accounts_get_handle(),
                Emitter::Jabber => sys::purple_find_prpl(c"prpl-jabber".as_ptr()).cast(),
                Emitter::Irc => sys::purple_find_prpl(c"prpl-irc".as_ptr()).cast(),
                Emitter::Connections => sys::purple_connections_get_handle(),
            }
        }
    }
}

/// A connected signal handler; dropping it disconnects (rust-weechat's `SignalHook` pattern).
pub(crate) struct SignalHook {
    emitter: Emitter,
    signal: &'static std::ffi::CStr,
    /// Our plugin's handle: the one libpurple pointer kept, valid from load to unload, which is
    /// exactly this guard's life.
    plugin: *mut sys::PurplePlugin,
    func: sys::PurpleCallback,
}

impl SignalHook {
    /// Connect `func` (whose signature must match the signal's marshaller) to `signal`.
    ///
    /// # Safety
    /// `plugin` must be the loaded plugin; `func` must have the signal's C signature.
    pub(crate) unsafe fn connect(
        plugin: *mut sys::PurplePlugin,
        emitter: Emitter,
        signal: &'static std::ffi::CStr,
        func: *const c_void,
    ) -> Option<SignalHook> {
        if emitter.handle().is_null() {
            return None;
        }
        // SAFETY: per the caller.
        let cb = unsafe { glue::callback(func) };
        // SAFETY: valid handles and signal name; libpurple copies what it needs.
        let id = unsafe {
            sys::purple_signal_connect_priority(
                emitter.handle(),
                signal.as_ptr(),
                plugin.cast(),
                cb,
                std::ptr::null_mut(),
                priority(signal),
            )
        };
        if id == 0 {
            glue::debug_error(&format!("could not connect {}", signal.to_string_lossy()));
            return None;
        }
        Some(SignalHook {
            emitter,
            signal,
            plugin,
            func: cb,
        })
    }
}

/// The priority a handler of `signal` is connected with: libpurple's default, but for
/// `received-im-msg`, whose handler marks the write `serv_got_im` makes right after it
/// (`echo::received_im_msg`): it runs after every other plugin's (libpurple calls handlers in
/// ascending priority), so that a received message another plugin's handler writes itself
/// meanwhile is judged without the mark.
fn priority(signal: &std::ffi::CStr) -> c_int {
    /// `PURPLE_SIGNAL_PRIORITY_HIGHEST` (signals.h): called last.
    const HIGHEST: c_int = 9999;
    if signal == c"received-im-msg" {
        HIGHEST
    } else {
        0
    }
}

impl SignalHook {
    /// Whether this is the handler of `signal`.
    pub(crate) fn is(&self, signal: &std::ffi::CStr) -> bool {
        self.signal == signal
    }
}

impl Drop for SignalHook {
    fn drop(&mut self) {
        // SAFETY: same arguments as at connect; the plugin is still loaded (we drop during unload).
        unsafe {
            sys::purple_signal_disconnect(
                self.emitter.handle(),
                self.signal.as_ptr(),
                self.plugin.cast(),
                self.func,
            );
        }
    }
}

/// Connect every handler the plugin needs.
///
/// # Safety
/// `plugin` must be the plugin being loaded.
pub(crate) unsafe fn connect_all(plugin: *mut sys::PurplePlugin) -> Vec<SignalHook> {
    use Emitter::*;
    let table: [(Emitter, &'static std::ffi::CStr, *const c_void); 25] = [
        (
            Conversations,
            c"sending-im-msg",
            sending_im_msg as *const c_void,
        ),
        (
            Conversations,
            c"sending-chat-msg",
            sending_chat_msg as *const c_void,
        ),
        (
            Conversations,
            c"receiving-im-msg",
            receiving_im_msg as *const c_void,
        ),
        (
            Conversations,
            c"conversation-updated",
            conversation_updated as *const c_void,
        ),
        (
            Conversations,
            c"conversation-created",
            conversation_created as *const c_void,
        ),
        (Conversations, c"sent-im-msg", sent_im_msg as *const c_void),
        (
            Conversations,
            c"received-im-msg",
            super::echo::received_im_msg as *const c_void,
        ),
        (
            Conversations,
            c"writing-im-msg",
            super::echo::writing_im_msg as *const c_void,
        ),
        (
            Jabber,
            c"jabber-sending-xmlnode",
            super::xmpp::sending_xmlnode as *const c_void,
        ),
        (
            Jabber,
            c"jabber-receiving-xmlnode",
            super::xmpp::receiving_xmlnode as *const c_void,
        ),
        (
            Irc,
            c"irc-sending-text",
            super::irc::sending_text as *const c_void,
        ),
        (
            Irc,
            c"irc-receiving-text",
            super::irc::receiving_text as *const c_void,
        ),
        (
            Conversations,
            c"deleting-conversation",
            deleting_conversation as *const c_void,
        ),
        (
            Conversations,
            c"conversation-extended-menu",
            super::menu::conversation_extended_menu as *const c_void,
        ),
        (
            Blist,
            c"blist-node-extended-menu",
            super::menu::blist_node_extended_menu as *const c_void,
        ),
        (Blist, c"buddy-signed-on", buddy_signed_on as *const c_void),
        (
            Blist,
            c"buddy-signed-off",
            buddy_signed_off as *const c_void,
        ),
        (Plugins, c"plugin-load", plugin_load as *const c_void),
        (Plugins, c"plugin-unload", plugin_unload as *const c_void),
        (Core, c"quitting", quitting as *const c_void),
        (
            Accounts,
            c"account-destroying",
            account_destroying as *const c_void,
        ),
        (
            Accounts,
            c"account-removed",
            account_removed as *const c_void,
        ),
        (
            Accounts,
            c"account-signed-off",
            account_signed_on_or_off as *const c_void,
        ),
        (
            Accounts,
            c"account-signed-on",
            account_signed_on_or_off as *const c_void,
        ),
        (
            Connections,
            c"signing-off",
            super::pace::signing_off as *const c_void,
        ),
    ];
    table
        .into_iter()
        // SAFETY: each function below has the C signature of its signal (libpurple's
        // conversation-signals / blist-signals / plugin-signals documentation).
        .filter_map(|(e, s, f)| unsafe { SignalHook::connect(plugin, e, s, f) })
        .collect()
}

/// Abort a send: the plaintext never leaves.
///
/// # Safety
/// `message` must be null or point to a GLib-owned string pointer.
unsafe fn abort_send(message: *mut *mut c_char) {
    // SAFETY: per the caller.
    unsafe { glue::replace_gstring(message, None) };
}

/// What the user typed to `who` was refused after a fault in Sotto (a panic, caught): the
/// window says it was not sent, or not all of it, with the text (the fault may have come after
/// a first piece left). A Sotto line (the `send_im` wrapper is handed the encrypted line, or
/// one of Sotto's own) is not shown: the words are the user's, which the line does not hold;
/// `typed`, when the caller has them (the typed message whose last line that was, and whether
/// that line was handed to the connection before the fault), are.
/// Never panics (a panic here would cross the FFI boundary).
///
/// # Safety
/// `account` is NULL or live; `who` and `text` are NULL or C strings.
pub(super) unsafe fn not_sent_after_a_fault(
    account: *mut sys::PurpleAccount,
    who: *const c_char,
    text: *const c_char,
    typed: Option<(&str, bool)>,
) {
    if text.is_null() {
        return;
    }
    // SAFETY: per the caller.
    unsafe {
        after_a_fault(account, who, |r| {
            r.conversation_or_new();
            if let Some((typed, true)) = typed {
                r.system_line(&texts::handed_down_then_a_fault(typed));
                return;
            }
            let line = glue::markup_to_text(&cstr_to_string(text).unwrap_or_default());
            let ours = crate::protocol::wire::WireMessage::decode(&line).is_ok();
            r.system_line(&texts::not_sent_after_a_fault(
                typed.map(|(t, _)| t).or((!ours).then_some(line.as_str())),
            ));
        });
    }
}

/// After a caught fault: runs `tell` for `account`'s conversation with `peer`, itself inside a
/// catch (a fault here would cross the FFI boundary), nothing when either is NULL or unknown.
///
/// # Safety
/// `account` is NULL or live; `peer` is NULL or a C string.
unsafe fn after_a_fault(
    account: *mut sys::PurpleAccount,
    peer: *const c_char,
    tell: impl FnOnce(&ConvRef),
) {
    // (A second fault's payload is leaked, not dropped: its drop could fault too.)
    if let Err(again) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if account.is_null() || peer.is_null() {
            return;
        }
        let Some(peer) = cstr_to_string(peer) else {
            return;
        };
        // SAFETY: a live account (per the caller).
        if let Some(r) = unsafe { ConvRef::from_account(account, &peer) } {
            tell(&r);
        }
    })) {
        std::mem::forget(again);
    }
}

/// `sending-chat-msg(account, &message, id)`: Sotto encrypts no group chat, but a `/sotto`
/// command mistyped in a group chat's window (`/Sotto verify q | a`, ` /sotto answer Lisbon`)
/// is the user's words for Sotto, a verification's secret perhaps: libpurple runs no command
/// there and would send the line to the whole room (XMPP) or, with a blank first, to the
/// channel (IRC). It is never sent; the window says why, with the text.
unsafe extern "C" fn sending_chat_msg(
    account: *mut sys::PurpleAccount,
    message: *mut *mut c_char,
    id: c_int,
    _data: *mut c_void,
) {
    // Fail closed: a fault here drops the line (it may be a secret), and the room's window
    // says so with the text (the input box was cleared: it would be lost without a word).
    ffi_boundary!(
        // SAFETY: libpurple's out-parameter for this callback (checked for NULL inside); the
        // account is this callback's.
        unsafe {
            if !message.is_null() {
                let text = *message;
                // (A second fault's payload is leaked, not dropped: its drop could fault too.)
                if let Err(again) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let conv = chat_window(account, id);
                    if !conv.is_null() && !text.is_null() {
                        let typed = glue::markup_to_text(&cstr_to_string(text).unwrap_or_default());
                        glue::system_line_to(conv, &texts::not_sent_after_a_fault(Some(&typed)));
                    }
                })) {
                    std::mem::forget(again);
                }
                abort_send(message);
            }
        },
        {
            non_null!(account);
            non_null!(message);
            // SAFETY: non-null out-parameter from libpurple.
            let original = unsafe { *message };
            non_null!(original);
            let markup = cstr_to_string(original).unwrap_or_default();
            let text = glue::markup_to_text(&markup);
            crate::sessions::test_panic_on(&text);
            if !super::commands::mistyped_command(&text) {
                return;
            }
            // SAFETY: valid out-parameter.
            unsafe { abort_send(message) };
            // SAFETY: a live account for this callback.
            let conv = unsafe { chat_window(account, id) };
            if !conv.is_null() {
                // SAFETY: a live conversation, just looked up.
                unsafe { glue::system_line_to(conv, &texts::command_not_run_in_a_chat(&text)) };
            }
        }
    );
}

/// The group chat `id` of `account`'s connection (NULL: none, or no connection).
///
/// # Safety
/// `account` is NULL or live.
unsafe fn chat_window(account: *mut sys::PurpleAccount, id: c_int) -> *mut sys::PurpleConversation {
    if account.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: per the caller; the connection is checked.
    unsafe {
        let gc = sys::purple_account_get_connection(account);
        if gc.is_null() {
            return std::ptr::null_mut();
        }
        sys::purple_find_chat(gc, id)
    }
}

/// `sending-im-msg(account, receiver, &message)`.
unsafe extern "C" fn sending_im_msg(
    account: *mut sys::PurpleAccount,
    receiver: *const c_char,
    message: *mut *mut c_char,
    _data: *mut c_void,
) {
    // Fail closed: on a panic the message is dropped, never sent in plaintext, and the window
    // says so with the text (the input box was cleared: it would be lost without a word).
    ffi_boundary!(
        {
            // SAFETY: the callback's own arguments, still live; `message` is libpurple's
            // out-parameter (checked for NULL inside), read before it is freed.
            unsafe {
                if !message.is_null() {
                    not_sent_after_a_fault(account, receiver, *message, None);
                }
                abort_send(message)
            }
        },
        {
            non_null!(account);
            non_null!(receiver);
            non_null!(message);
            // SAFETY: non-null out-parameter from libpurple.
            let original = unsafe { *message };
            non_null!(original);
            let Some(peer) = cstr_to_string(receiver) else {
                return;
            };
            // SAFETY: live account for this callback.
            let Some(r) = (unsafe { ConvRef::from_account(account, &peer) }) else {
                return;
            };
            // What was typed, in Sotto's own copies: wiped when dropped (a mistyped
            // `/sotto answer` below carries a verification's secret).
            let markup = SecretString::new(cstr_to_string(original).unwrap_or_default());
            let text = SecretString::new(glue::markup_to_text(&markup));
            // "/Sotto verify question | answer", " /sotto answer …": meant for Sotto, never
            // sent, whatever the conversation's state (the answer is a verification's secret).
            // In each refusal below the message is cleared last: a fault while the window is
            // told finds the text still there, and the fault's line gives it back (cleared
            // first, the fault found nothing and the text was gone without a word: found by a
            // review of the FFI layer).
            if super::commands::mistyped_command(&text) {
                r.system_line(&texts::command_not_run(&text));
                // SAFETY: valid out-parameter.
                unsafe { abort_send(message) };
                return;
            }
            // The window may have been renamed (a nick change) since it was last seen: its
            // conversation follows first, and if it cannot, nothing is sent, and the text is
            // shown back (the input box is cleared: it would be lost), each time (the reason
            // is said once per name).
            if !service::track_name(&r) {
                r.system_line(&texts::not_sent(&text));
                // SAFETY: valid out-parameter.
                unsafe { abort_send(message) };
                return;
            }
            // One of our own recent lines, sent again as if typed: Offline Message Emulation
            // caught it for an offline contact and sends it this way when the user answers
            // its question with "No". Encrypting it would show the contact a raw line. A long
            // message's last piece is what it catches (the others left at once): no piece of
            // a line is typed by anyone.
            let piece = matches!(
                crate::protocol::wire::WireMessage::decode(&text),
                Ok(crate::protocol::wire::WireMessage::Fragment(_))
            );
            if piece || service::sent_text(&r, &text).is_some() {
                r.system_line(texts::resent_wire_line());
                // SAFETY: valid out-parameter.
                unsafe { abort_send(message) };
                return;
            }
            // An image cannot go encrypted: stripped, only the words would leave while the
            // window showed the image as sent. Refused where the text would not go as it is.
            // (With no store, the refusal below says why nothing can be sent.)
            if markup::has_image(&markup)
                && !service::plaintext_allowed(&r)
                && service::unavailable().is_none()
            {
                let always = service::policy(&r) == crate::protocol::Policy::Always;
                r.system_line(&texts::image_not_sent(&Shown::new(&r.peer), &text, always));
                // SAFETY: valid out-parameter.
                unsafe { abort_send(message) };
                return;
            }
            service::user_acted(&r);
            let Some((decision, fx)) = service::outgoing(&r, &text) else {
                glue::debug_error("no session state for an outgoing message; not sending");
                r.system_line(&texts::with_message(
                    &texts::refused_no_state(
                        texts::Refused::Send,
                        service::unavailable().as_deref(),
                    ),
                    &text,
                ));
                // SAFETY: valid out-parameter.
                unsafe { abort_send(message) };
                return;
            };
            match decision {
                Outgoing::Plaintext => {
                    // Another conversation of the same buddy-list contact shares this window
                    // and is encrypted: the user may believe they are typing there (a message
                    // switches the window's active conversation). Held back, with the text
                    // given back, and asked about in a dialog; only its "Send unencrypted"
                    // sends it (sent again, it is held back again).
                    let held = || HeldLine::Message(markup.clone());
                    if let Some(refusal) = siblings::held_back(&r, &text, held) {
                        present::apply(&r, fx);
                        refusal.tell(&r);
                        // SAFETY: valid out-parameter.
                        unsafe { abort_send(message) };
                        return;
                    }
                    let _ = with_state(|s| {
                        // (A plain copy: this text goes out in plaintext.)
                        s.allow_next =
                            Some(state::Approval::plaintext(r.key(), String::clone(&markup)))
                    });
                    // Typed words that look like a Sotto line ("?S1Q hello", a pasted line)
                    // are the user's words: libpurple's write of them is shown, not hidden as
                    // one of Sotto's own lines (they went out).
                    echo::let_through(&r, &text);
                    present::apply(&r, fx);
                }
                Outgoing::Hold => {
                    // SAFETY: valid out-parameter.
                    unsafe { abort_send(message) };
                    present::apply(&r, fx);
                }
                Outgoing::Lines(mut lines) => {
                    let Some(last) = lines.pop() else {
                        // SAFETY: valid out-parameter.
                        unsafe { abort_send(message) };
                        return;
                    };
                    // Kept so that a protocol's echo of any piece shows what was typed.
                    let elsewhere = fx.elsewhere.iter().map(|(_, l)| l);
                    echo::typed(
                        lines.iter().chain(std::iter::once(&last)).chain(elsewhere),
                        &text,
                        &r.key(),
                    );
                    // libpurple writes what was typed into the window once it is sent.
                    echo::let_through(&r, &text);
                    let mut fx = fx;
                    // (Kept only for a message in pieces: the line is put together from them
                    // again if its first piece is refused as too large.)
                    let all: Vec<String> = if lines.is_empty() {
                        Vec::new()
                    } else {
                        lines
                            .iter()
                            .chain(std::iter::once(&last))
                            .cloned()
                            .collect()
                    };
                    fx.inject.extend(lines);
                    // The other clients' lines go once the protocol took the last line (the
                    // `send_im` wrapper sends them): not if it refuses it.
                    let elsewhere = std::mem::take(&mut fx.elsewhere);
                    let last = match present::apply_lines(&r, fx) {
                        None => last,
                        // The first piece refused as too large: the message's line cut
                        // smaller, its new pieces sent, and its new last piece handed down.
                        Some(0) if super::prpl::size_refusal().is_some() => {
                            match present::cut_again(&r, all) {
                                Some(new_last) => {
                                    echo::typed(std::iter::once(&new_last), &text, &r.key());
                                    new_last
                                }
                                None => {
                                    // Pieces of it may have left: a not-read notice for them
                                    // must not send it again by itself once the user has it.
                                    service::forget_sent_record(&r, &text);
                                    r.system_line(&texts::not_sent_refused(&text, true));
                                    // SAFETY: valid out-parameter.
                                    unsafe { abort_send(message) };
                                    return;
                                }
                            }
                        }
                        Some(_) => {
                            // A piece did not go out: the rest would be unreadable. Not sent,
                            // said.
                            service::forget_sent_record(&r, &text);
                            let too_large = super::prpl::take_size_refusal().is_some();
                            r.system_line(&texts::not_sent_refused(&text, too_large));
                            // SAFETY: valid out-parameter.
                            unsafe { abort_send(message) };
                            return;
                        }
                    };
                    let _ = with_state(|s| {
                        s.allow_next = Some(state::Approval::typed_line(
                            r.key(),
                            last.clone(),
                            &text,
                            elsewhere,
                        ))
                    });
                    echo::writing_sent(&r);
                    // SAFETY: valid out-parameter; the old string is GLib-owned.
                    unsafe { glue::replace_gstring(message, Some(&last)) };
                }
            }
        }
    )
}

/// `sent-im-msg(account, receiver, message)`: libpurple's send is over: an approval our
/// `sending-im-msg` armed must not stay armed for a later, identical text. (When a later
/// handler cancels the send, libpurple emits neither this nor `send_im`: the approval's
/// lifetime, `state::APPROVAL_LIFETIME`, covers that.)
unsafe extern "C" fn sent_im_msg(
    _account: *mut sys::PurpleAccount,
    _receiver: *const c_char,
    _message: *const c_char,
    _data: *mut c_void,
) {
    ffi_boundary!((), {
        let _ = with_state(|s| s.allow_next = None);
        echo::sent_written();
    })
}

/// Drop a received message: its text is freed (the pointer set to null), and the TRUE
/// returned is [`receiving_im_msg`]'s answer to libpurple, which then shows nothing.
///
/// # Safety
/// `message` must be null or point to a GLib-owned string pointer.
unsafe fn swallow(message: *mut *mut c_char) -> sys::gboolean {
    // SAFETY: per the caller.
    unsafe { glue::replace_gstring(message, None) };
    1
}

/// The flags a received message never keeps ([`receiving_im_msg`]): each draws it as a line
/// that is not the contact's (a system line, raw markup, an error, a nameless notice).
const RECEIVED_NEVER_FLAGGED: sys::PurpleMessageFlags = sys::PURPLE_MESSAGE_SYSTEM
    | sys::PURPLE_MESSAGE_RAW
    | sys::PURPLE_MESSAGE_ERROR
    | sys::PURPLE_MESSAGE_NOTIFY;

/// `receiving-im-msg(account, &sender, &message, conv, &flags)`: TRUE drops the message.
///
/// On a panic the message is dropped: what Sotto did not check (plaintext with markup that
/// could paint a Sotto line, in a window that may say "(encrypted)") is never shown as it came.
unsafe extern "C" fn receiving_im_msg(
    account: *mut sys::PurpleAccount,
    sender: *mut *mut c_char,
    message: *mut *mut c_char,
    conv: *mut sys::PurpleConversation,
    flags: *mut sys::PurpleMessageFlags,
    _data: *mut c_void,
) -> sys::gboolean {
    ffi_boundary!(
        {
            // SAFETY: the callback's own arguments, still live.
            unsafe { dropped_after_a_fault(account, sender, message, conv) };
            1
        },
        {
            // What a received message shows is the contact's (or the server's, as the contact):
            // never drawn as a system line, bold, timestamped and nameless like Sotto's own
            // ("Sotto: … (verified)"), nor as raw markup. Some protocols flag a contact's text
            // so (purple-teams and skypeweb, for some message types). Nor as an error line
            // (Pidgin: red, bold, nameless), nor as a notice: Finch draws a line flagged
            // NOTIFY without the sender's name and dimmed, as it draws Sotto's, and libpurple
            // flags so the line it makes of a buzz (XMPP's `<attention/>`), "<alias> has
            // buzzed you!", whose alias the contact or the server writes.
            if !flags.is_null() {
                // SAFETY: libpurple's flags out-parameter, non-null.
                unsafe { *flags &= !RECEIVED_NEVER_FLAGGED };
            }
            // SAFETY: libpurple's conversation for this message (NULL when none is open yet).
            let followed = unsafe { service::track(conv) };
            non_null!(account, 0);
            non_null!(sender, 0);
            non_null!(message, 0);
            // SAFETY: non-null out-parameters from libpurple.
            let (sender_s, message_p) = unsafe { (*sender, *message) };
            non_null!(sender_s, 0);
            non_null!(message_p, 0);
            // (Read lossily: a body that is not UTF-8 goes through the conversation's checks
            // like any other.)
            // SAFETY: non-null, NUL-terminated string owned by libpurple.
            let body_utf8 = unsafe { std::ffi::CStr::from_ptr(message_p) }
                .to_str()
                .is_ok();
            let raw = cstr_to_string(message_p).unwrap_or_default();
            let text = echo::incoming_text(&raw);
            // A sender whose name is not UTF-8 (or an account without a name) names no
            // conversation Sotto could check the message in: read lossily, two such names
            // would share one conversation, and answers would go to neither.
            // SAFETY: non-null, NUL-terminated string owned by libpurple.
            let peer = unsafe { std::ffi::CStr::from_ptr(sender_s) }.to_str().ok();
            // SAFETY: live account for this callback.
            let r = peer.and_then(|peer| unsafe { ConvRef::from_account(account, peer) });
            let Some(r) = r else {
                return match present::unchecked(&raw, &text) {
                    // SAFETY: valid out-parameter.
                    present::Unchecked::Drop => unsafe { swallow(message) },
                    present::Unchecked::Show(html) => {
                        // SAFETY: valid out-parameter.
                        unsafe { glue::replace_gstring(message, Some(&html)) };
                        0
                    }
                };
            };
            // A message the protocol hands over as sent by this account (flagged `SEND`, to
            // which `serv_got_im` adds `RECV`: what another client of ours sent, as a plugin
            // that delivers everything it hears through `serv_got_im` gives it) is never the
            // contact's to read: read as the contact's, its line belonged to no session ("could
            // not read"), and the contact was sent a not-read notice for a message it never
            // sent. A line of Sotto's is written into the window as sent, as such a plugin's
            // write of it would be, and looked at as every such write is (`echo`: hidden, one
            // note), and dropped here (handed on, other plugins saw the raw line as received,
            // and libpurple's away message answered it). Plaintext goes on, written as sent by
            // libpurple (the write warns where the window is marked encrypted).
            // SAFETY: non-null flags out-parameter (checked first).
            if !flags.is_null() && unsafe { *flags } & sys::PURPLE_MESSAGE_SEND != 0 {
                if crate::protocol::wire::is_sotto_text(&text) {
                    r.conversation_or_new();
                    // SAFETY: as above.
                    let as_sent = unsafe { *flags } & !sys::PURPLE_MESSAGE_RECV;
                    r.write(peer, &raw, as_sent);
                    // SAFETY: valid out-parameter.
                    return unsafe { swallow(message) };
                }
                return 0;
            }
            // Other open windows named exactly as the sender, which libpurple's lookup missed
            // (an XMPP private chat once the room is left and its address is on the roster):
            // their conversations follow first, as before a line is sent, so the line is read
            // in the conversation that has the session, not in a blank one under the new name.
            let followed = followed && service::track_named(&r, conv);
            // Where the transport does not address each of the contact's clients (all but XMPP),
            // the open window the line is written to names the contact: answers go to its name,
            // never to the spelling this line came under (libpurple folds IRC names, Unicode
            // letters too, where a server may not: `Élodie` is written into élodie's window).
            // SAFETY: libpurple's conversation for this message, null or live.
            let r = match unsafe { ConvRef::from_conversation(conv) } {
                Some(window) if !service::addressable(&r) && window.key() == r.key() => window,
                _ => r,
            };
            // A copy of a line already read (a retransmission): dropped without a word.
            if echo::already_read(&r, &text) {
                // SAFETY: valid out-parameter.
                return unsafe { swallow(message) };
            }
            // A window whose contact was renamed and whose conversation could not follow (it
            // said so) reads nothing under the new name either: a conversation started blank
            // there would take whoever answers as that name on first use.
            let got = if followed {
                service::incoming(&r, &text)
            } else {
                None
            };
            let Some((action, mut fx)) = got else {
                // No session could be had (the store is unreadable, say): the line was not read,
                // so a copy of it later is (not dropped as a copy); protocol traffic is still never
                // shown raw.
                echo::not_read(&r, &text);
                if crate::protocol::wire::is_sotto_text(&text) {
                    r.system_line(texts::unreadable_no_state());
                    // SAFETY: valid out-parameter.
                    return unsafe { swallow(message) };
                }
                // Plaintext whose conversation cannot be checked: shown as one line of plain text
                // (no markup can paint a line of Sotto's), after a warning where the window may
                // still say "(encrypted)" or its conversation could not follow a rename.
                if !followed || present::marked_encrypted(&r) {
                    r.arrival_line(&texts::plaintext_no_state(&Shown::new(&r.peer)));
                }
                if let Some(html) = present::plaintext_html(&raw, true) {
                    // SAFETY: valid out-parameter.
                    unsafe { glue::replace_gstring(message, Some(&html)) };
                }
                return 0;
            };
            if fx.not_taken {
                echo::not_read(&r, &text);
            }
            let displayed = matches!(action, ReceiveAction::Display(_));
            // Plaintext in an encrypted conversation is unauthenticated: shown after its warning as
            // one line of plain text, never as markup that could draw lines looking like Sotto's or
            // like the contact's encrypted words.
            let flatten = fx
                .events
                .iter()
                .any(|e| matches!(e, crate::protocol::Event::PlaintextWhileEncrypted));
            // The IRC server's away reply to what was just sent: said for what it is, once in a
            // while, not as a warning at every line sent to an away contact.
            let away = matches!(action, ReceiveAction::PassThrough)
            && !flags.is_null()
            // SAFETY: non-null flags out-parameter.
            && present::is_irc_away_reply(&r.protocol, unsafe { *flags }, flatten);
            if away {
                fx.events
                    .retain(|e| !matches!(e, crate::protocol::Event::PlaintextWhileEncrypted));
                present::apply(&r, fx);
                present::show_irc_away_reply(&r, &raw);
                // SAFETY: valid out-parameter.
                return unsafe { swallow(message) };
            }
            let result = match action {
                ReceiveAction::PassThrough => {
                    if let Some(html) = present::plaintext_html(&raw, flatten) {
                        // SAFETY: valid out-parameter.
                        unsafe { glue::replace_gstring(message, Some(&html)) };
                    } else if !body_utf8 {
                        // What was checked (read lossily) is what is shown: bytes that are not
                        // UTF-8 are never handed on for another part to read otherwise.
                        // SAFETY: valid out-parameter.
                        unsafe { glue::replace_gstring(message, Some(&raw)) };
                    }
                    0
                }
                ReceiveAction::Swallow => {
                    // SAFETY: valid out-parameter.
                    unsafe { swallow(message) }
                }
                ReceiveAction::Display(plain) => {
                    // Shown with Sotto's flags (see `decrypted_flags`): the server's others are
                    // unauthenticated.
                    if !flags.is_null() {
                        // SAFETY: libpurple's flags out-parameter, non-null.
                        unsafe { *flags = decrypted_flags(*flags, &r.protocol) };
                    }
                    let shown = present::decrypted_shown(&plain);
                    let html = zeroize::Zeroizing::new(markup::text_to_html(&shown));
                    // The write is matched to what the window will show of it (a flattened
                    // message too; the markup drops `\r`, and stripping markup turns tabs into
                    // spaces).
                    // (Stripped as the write is: only markup with tags or entities is.)
                    let written = SecretString::new(if markup::needs_strip(&html) {
                        glue::markup_to_text(&html)
                    } else {
                        html.to_string()
                    });
                    echo::let_through(&r, &written);
                    // SAFETY: valid out-parameter.
                    unsafe { glue::replace_gstring(message, Some(&html)) };
                    0
                }
            };
            // Turns the window's logging off while encrypted (a window libpurple creates for this
            // message is handled in `conversation_created`): the message stays an ordinary
            // received one, shown with name and time, and is not logged.
            present::apply(&r, fx);
            // libpurple writes the message into `conv`, the window it found, which may not be
            // the one Sotto looks at (a room occupant's, once the room was left, is found under
            // the room's name): that window must not log it either.
            let libpurples_logs = !conv.is_null()
                && glue::open_ims().contains(&conv)
                // SAFETY: in libpurple's list of open conversations just now: live.
                && unsafe { present::logs_encrypted_text(conv) };
            if result == 0
                && displayed
                && !flags.is_null()
                && (libpurples_logs || present::must_not_log_read(&r))
            {
                // SAFETY: non-null flags out-parameter.
                unsafe { *flags |= sys::PURPLE_MESSAGE_NO_LOG };
            }
            result
        }
    )
}

/// The flags a decrypted message on `protocol` is written with, from those libpurple received it
/// with: received; delayed (which changes nothing but the time shown); not logged; and an
/// auto-reply where the protocol carries auto-replies: there the flag is the protocol's word
/// for the contact's client's, and libpurple's own away reply reads it (`serv_got_im` sends
/// none in answer to one, so two away users do not answer each other). On IRC a message is
/// flagged so only when the server hands it as the contact's away text (numeric 301): a server
/// that hands the contact's encrypted line so had his real words shown as "`<AUTO-REPLY>`"
/// (found by a read-only audit), and IRC answers nothing automatically. A notice or an error
/// flag is never the contact's.
fn decrypted_flags(received: sys::PurpleMessageFlags, protocol: &str) -> sys::PurpleMessageFlags {
    let auto_reply = if protocol == "prpl-irc" {
        0
    } else {
        sys::PURPLE_MESSAGE_AUTO_RESP
    };
    sys::PURPLE_MESSAGE_RECV
        | received & (sys::PURPLE_MESSAGE_DELAYED | sys::PURPLE_MESSAGE_NO_LOG | auto_reply)
}

/// A fault (a panic) in [`receiving_im_msg`] dropped the message unchecked: its line may be
/// read again (a copy later is not taken for one already read), and the window, if one is
/// open, says a message was not shown. Best effort: nothing here may fault again.
///
/// # Safety
/// The arguments must be `receiving_im_msg`'s own.
unsafe fn dropped_after_a_fault(
    account: *mut sys::PurpleAccount,
    sender: *mut *mut c_char,
    message: *mut *mut c_char,
    conv: *mut sys::PurpleConversation,
) {
    if sender.is_null() || message.is_null() {
        return;
    }
    // SAFETY: non-null out-parameters from libpurple; the strings are NULL or live.
    unsafe {
        after_a_fault(account, *sender, |r| {
            let text = cstr_to_string(*message).unwrap_or_default();
            echo::not_read(r, &echo::incoming_text(&text));
            if !conv.is_null() {
                r.system_line(texts::dropped_after_a_fault());
            }
        });
    }
}

/// `conversation-updated(conv, type)`: Pidgin resets titles; put our mark back. Pidgin and
/// Finch turn logging on for conversations merged into one window; turn it off again.
unsafe extern "C" fn conversation_updated(
    conv: *mut sys::PurpleConversation,
    kind: sys::PurpleConvUpdateType,
    _data: *mut c_void,
) {
    ffi_boundary!((), {
        non_null!(conv);
        if kind == sys::PURPLE_CONV_UPDATE_LOGGING {
            // SAFETY: live conversation for this callback.
            if let Some(r) = unsafe { ConvRef::from_conversation(conv) } {
                // SAFETY: live conversation for this callback, and `r` is its reference.
                unsafe { present::logging_changed(conv, &r) };
            }
            return;
        }
        if kind != sys::PURPLE_CONV_UPDATE_TITLE {
            return;
        }
        // A rename (IRC NICK) shows here first: `set_name` retitles the window.
        // SAFETY: live conversation for this callback.
        unsafe { service::track(conv) };
        // SAFETY: live conversation for this callback.
        if let Some(r) = unsafe { ConvRef::from_conversation(conv) } {
            present::redecorate(&r);
        }
    })
}

/// `conversation-created(conv)`: a reopened window of an encrypted session gets its mark, and its
/// logging is turned off before the message that made libpurple open it is written
/// (`serv_got_im` creates the window after `receiving-im-msg`).
unsafe extern "C" fn conversation_created(conv: *mut sys::PurpleConversation, _data: *mut c_void) {
    ffi_boundary!((), {
        non_null!(conv);
        // SAFETY: live conversation for this callback.
        unsafe { service::track(conv) };
        // SAFETY: live conversation for this callback.
        if let Some(r) = unsafe { ConvRef::from_conversation(conv) } {
            present::redecorate(&r);
        }
    })
}

/// `deleting-conversation(conv)`: the window goes; forget its number.
unsafe extern "C" fn deleting_conversation(conv: *mut sys::PurpleConversation, _data: *mut c_void) {
    ffi_boundary!((), {
        non_null!(conv);
        super::pace::window_closing(conv);
        // SAFETY: libpurple emits this while the conversation and its data are still valid.
        unsafe { super::windows::forget(conv) };
    })
}

/// `plugin-load(plugin)`: wrap protocols loaded after us.
unsafe extern "C" fn plugin_load(plugin: *mut sys::PurplePlugin, _data: *mut c_void) {
    ffi_boundary!((), {
        non_null!(plugin);
        // SAFETY: the plugin being loaded is live.
        unsafe { super::prpl::wrap(plugin) };
    })
}

/// `plugin-unload(plugin)`: a plugin that wrapped a protocol's `send_im` may have put back what
/// it found, taking our wrapper out of the chain: every protocol where ours is not on top is
/// wrapped again (else auto-replies and other plugins' sends would bypass Sotto). One that
/// put back a copy of ours it had found leaves that copy on top, calling what it did.
unsafe extern "C" fn plugin_unload(_plugin: *mut sys::PurplePlugin, _data: *mut c_void) {
    ffi_boundary!((), {
        super::prpl::wrap_each();
    })
}

/// `account-destroying(account)`: libpurple is about to free it; forget where it was, and close
/// the dialogs about its conversations that can be (`dialogs::account_going`).
unsafe extern "C" fn account_destroying(account: *mut sys::PurpleAccount, _data: *mut c_void) {
    ffi_boundary!((), {
        state::forget_account(account as usize);
        non_null!(account);
        // SAFETY: the signal's account, live for this callback; the strings are copied.
        let names = unsafe {
            (
                cstr_to_string(sys::purple_account_get_protocol_id(account)),
                cstr_to_string(sys::purple_account_get_username(account)),
            )
        };
        // SAFETY: as above.
        let normalized = unsafe { glue::account_key(account) }.map(|(_, a)| a);
        if let (Some(protocol), Some(username)) = names {
            super::dialogs::account_going(&protocol, &username, &normalized.unwrap_or_default());
        }
    })
}

/// `account-removed(account)`: the user deleted the account (`purple_accounts_delete`; the
/// account is still whole, its windows close after). What its conversations held to send
/// (typed while a session was set up, or to be sent again) is given back in one box owned by
/// no plugin, and saved without: it went unnamed, and out by itself if the account was added
/// again and the contact answered (found by a read-only review).
unsafe extern "C" fn account_removed(account: *mut sys::PurpleAccount, _data: *mut c_void) {
    ffi_boundary!((), {
        non_null!(account);
        // SAFETY: the signal's account, live for this callback.
        let (texts, saved) = unsafe { service::account_removed(account) };
        if texts.is_empty() {
            return;
        }
        let held: Vec<(String, SecretString)> = texts
            .into_iter()
            .flat_map(|(peer, texts)| {
                let shown = Shown::new(&peer).to_string();
                texts.into_iter().map(move |t| (shown.clone(), t))
            })
            .collect();
        glue::notify_long(
            std::ptr::null_mut(),
            "Messages waiting to be sent were NOT sent: the account was deleted",
            &texts::held_account_deleted(&held, saved),
        );
    })
}

/// `account-signed-off(account)` and `account-signed-on(account)` (libpurple relays its
/// connections' `signed-off` and `signed-on`): what the account's conversations saw of their
/// contacts' clients no longer holds (while it was offline, the client holding a session may
/// have gone, and no presence could say so), and is followed afresh
/// (`Sessions::forget_presence`); no IRC 401 answers a line sent before (`super::irc`); IRC
/// lines still followed as waiting went with the connection's queue (`super::pace`). Both:
/// a connection that drops and comes back emits each once, and nothing that arrives between
/// them (nothing can) is lost by forgetting twice.
unsafe extern "C" fn account_signed_on_or_off(
    account: *mut sys::PurpleAccount,
    _data: *mut c_void,
) {
    ffi_boundary!((), {
        non_null!(account);
        // SAFETY: the signal's account, live for this callback.
        if let Some((protocol, user)) = unsafe { glue::account_key(account) } {
            service::forget_presence(&protocol, &user);
            super::irc::forget_account(&protocol, &user);
        }
        // SAFETY: as above.
        unsafe { super::pace::connection_over(account) };
    })
}

/// `buddy-signed-on(buddy)` on the buddy list: a contact on the list came online, as its
/// protocol tells libpurple (IRC: the `ISON` poll every 45 s, and at sign-on; most
/// third-party protocols: their presence). A start of ours that lapsed while the contact was
/// away, or text held behind one, is tried again ([`buddy_presence`]).
unsafe extern "C" fn buddy_signed_on(buddy: *mut sys::PurpleBuddy, _data: *mut c_void) {
    ffi_boundary!((), {
        non_null!(buddy);
        // SAFETY: the signal's buddy, live for this callback.
        unsafe { buddy_presence(buddy, true) };
    })
}

/// `buddy-signed-off(buddy)` on the buddy list: the contact went offline; its next sign-on
/// counts as a new one ([`buddy_presence`]).
unsafe extern "C" fn buddy_signed_off(buddy: *mut sys::PurpleBuddy, _data: *mut c_void) {
    ffi_boundary!((), {
        non_null!(buddy);
        // SAFETY: as above.
        unsafe { buddy_presence(buddy, false) };
    })
}

/// What a buddy's sign-on or sign-off means for its conversation, on every protocol but XMPP
/// (whose presences are followed per client, by address, in `super::xmpp`, and whose buddy is
/// a bare JID): the contact's one client is `available` or not
/// (`service::contact_presence`); one that came online tries a lapsed start of ours again, at
/// most once per handshake timeout and only to a contact known to run Sotto
/// (`Sessions::contact_online`). A server can invent a sign-on: it gets that one `?S1I`,
/// which releases nothing unless the contact's client completes the handshake. For a contact
/// without a conversation in memory, nothing is loaded or saved unless its saved row holds
/// typed text (after a restart: `service::load_if_held`).
///
/// # Safety
/// `buddy` must be a live `PurpleBuddy`.
unsafe fn buddy_presence(buddy: *mut sys::PurpleBuddy, available: bool) {
    // SAFETY: a live buddy per the caller; its name is copied at once.
    let r = unsafe {
        let account = sys::purple_buddy_get_account(buddy);
        cstr_to_string(sys::purple_buddy_get_name(buddy))
            .and_then(|name| ConvRef::from_account(account, &name))
    };
    let Some(r) = r.filter(|r| r.protocol != "prpl-jabber") else {
        return;
    };
    if available {
        service::load_if_held(&r);
    }
    if let Some(fx) = service::contact_presence(&r, available) {
        present::apply(&r, fx);
    }
}

/// `quitting()` on the core: the client is exiting.
unsafe extern "C" fn quitting(_data: *mut c_void) {
    ffi_boundary!((), {
        state::set_quitting();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decrypted_message_keeps_only_the_flags_sotto_vouches_for() {
        let server = sys::PURPLE_MESSAGE_RECV
            | sys::PURPLE_MESSAGE_AUTO_RESP
            | sys::PURPLE_MESSAGE_NOTIFY
            | sys::PURPLE_MESSAGE_ERROR
            | sys::PURPLE_MESSAGE_SYSTEM
            | sys::PURPLE_MESSAGE_DELAYED;
        // IRC: the auto-reply flag is the server's away numeric, never the contact's.
        assert_eq!(
            decrypted_flags(server, "prpl-irc"),
            sys::PURPLE_MESSAGE_RECV | sys::PURPLE_MESSAGE_DELAYED
        );
        // Elsewhere it is the protocol's word, which libpurple's away reply reads.
        assert_eq!(
            decrypted_flags(server, "prpl-aim"),
            sys::PURPLE_MESSAGE_RECV | sys::PURPLE_MESSAGE_DELAYED | sys::PURPLE_MESSAGE_AUTO_RESP
        );
        assert_eq!(decrypted_flags(0, "prpl-jabber"), sys::PURPLE_MESSAGE_RECV);
    }
}
