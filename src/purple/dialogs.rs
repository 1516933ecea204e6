//! Trust dialogs, all through `purple_request_*` so Pidgin and Finch both show them: verify a
//! contact (compare fingerprints, or ask a question), answer the contact's question, decide about
//! a changed key, and the "Known fingerprints" view (verify or forget any recorded key).
//!
//! A dialog's callbacks carry only a number; what the dialog is about ([`Pending`]) stays in the
//! plugin state under that number, and the account and conversation are looked up again by name
//! when the user answers. A dialog answered after the plugin was unloaded finds nothing and does
//! nothing.
//!
//! Text handed to `purple_request_*` is plain text, not markup: Pidgin escapes the title, primary
//! and secondary text itself (`g_markup_escape_text`) and Finch shows them as typed, so escaping
//! here would show `&lt;` to the user. Peer-controlled text (a question, a name) is cleaned of
//! control characters and shortened ([`plain`]) instead; where it goes into a conversation line,
//! [`ConvRef::system_line`] escapes it.

use std::ffi::{c_char, c_int, c_void, CStr};

use crate::protocol::{ConvState, IdentityPublic, SecretString};
use crate::sessions::trust::{
    fingerprint_prefix_matches, is_fingerprint_separator, AcceptError, ACCEPT_GROUPS,
};

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::glue::{self, cstr_to_string, ConvRef};
use super::present;
use super::service;
use super::state::{next_dialog_number, plugin_handle, with_state, HeldLine, Pending};
pub(crate) use super::texts::plain;
use super::texts::{self, Dialog, Shown};

/// Keep `p` until its dialog is answered; the number goes to libpurple as user data.
pub(super) fn park(p: Pending) -> Option<*mut c_void> {
    with_state(|state| {
        let id = next_dialog_number();
        state.dialogs.insert(id, p);
        id as *mut c_void
    })
}

/// The dialog a callback's user data stands for (once: a dialog is answered once).
pub(super) fn take(data: *mut c_void) -> Option<Pending> {
    with_state(|state| state.dialogs.remove(&(data as usize))).flatten()
}

/// [`take`], for a dialog answered with a decision: `None` when the dialog is about a
/// conversation whose account no longer exists (deleted while the dialog was open: libpurple
/// closes only the account's own dialogs, not Sotto's), and a box says nothing was done. Acted
/// on, the decision wrote into the store under a name no account has (the key's identity made
/// anew, a key marked verified) and its line went to no window (found by a read-only review).
pub(super) fn take_answered(data: *mut c_void) -> Option<Pending> {
    let p = take(data)?;
    let r = match &p {
        Pending::Verify { r, .. }
        | Pending::Compare { r, .. }
        | Pending::Ask { r, .. }
        | Pending::Answer { r, .. }
        | Pending::KeyChanged { r, .. }
        | Pending::Sibling { r, .. } => r,
        Pending::Known(_) => return Some(p),
    };
    if !r.account().is_null() {
        return Some(p);
    }
    // A line held back for a sibling conversation is given back: its window went too.
    let held = match &p {
        Pending::Sibling { held, .. } => Some(held.shown()),
        _ => None,
    };
    // (The box may hold a typed message: wiped here once libpurple has its copy.)
    let said = SecretString::new(texts::account_gone(
        &Shown::new(&r.peer),
        held.as_deref().map(String::as_str),
    ));
    glue::notify(
        std::ptr::null_mut(),
        true,
        "Nothing was done: the account is gone",
        &said,
    );
    None
}

/// Run an action dialog (at most three buttons), each button with a callback of its own that
/// knows which button it is. A key dialog's [`Pending`] learns libpurple's handle of it.
///
/// The index libpurple hands an action callback is the UI's, not the caller's: Finch passes
/// the button's place in the list given, Pidgin (2.x `pidgin_request_action_with_icon`) adds
/// the buttons in reverse and passes the reversed place (`count - 1 - i`), so one callback
/// reading the index ran the other button's action in Pidgin ("Keep holding messages"
/// accepted the new key). The index is ignored.
fn action_dialog(
    r: Option<&ConvRef>,
    text: &Dialog,
    default: c_int,
    buttons: &[&CStr],
    p: Pending,
) {
    let own_handle = matches!(p, Pending::KeyChanged { .. } | Pending::Sibling { .. });
    let Some(data) = park(p) else { return };
    request_action(r, text, default, buttons, data, own_handle);
}

/// The action dialog of [`action_dialog`] for the [`Pending`] parked as `data`.
fn request_action(
    r: Option<&ConvRef>,
    text: &Dialog,
    default: c_int,
    buttons: &[&CStr],
    data: *mut c_void,
    own_handle: bool,
) {
    let (title, primary, secondary) = (
        glue::cstring(&text.title),
        glue::cstring(&text.primary),
        glue::cstring(&text.secondary),
    );
    let who = r.map(|r| glue::cstring(&r.peer));
    let (account, conv) = r.map_or((std::ptr::null_mut(), std::ptr::null_mut()), |r| {
        (r.account(), r.conversation())
    });
    // SAFETY: strings valid for the call (libpurple copies them); every callback has
    // PurpleRequestActionCb's (user_data, index) signature; account and conversation were looked
    // up just now (or are NULL, which libpurple accepts).
    unsafe {
        let cb = |i: usize| glue::callback(BUTTONS[i] as *const c_void);
        let label = |i: usize| buttons.get(i).map_or(c"".as_ptr(), |b| b.as_ptr());
        let who = who.as_ref().map_or(std::ptr::null(), |w| w.as_ptr());
        // A key dialog, or one about a line held back, is its own owner (its number: never the
        // address of anything, so no other request has it), to close exactly it later; the
        // others are the plugin's.
        let handle = if own_handle { data } else { plugin_handle() };
        // Always three (label, callback) pairs: libpurple reads `count` of them; the C
        // varargs convention ignores the rest.
        let count = buttons.len().min(3);
        sys::purple_request_action(
            handle,
            title.as_ptr(),
            primary.as_ptr(),
            secondary.as_ptr(),
            default,
            account,
            who,
            conv,
            data,
            count,
            label(0),
            cb(0),
            label(1),
            cb(1),
            label(2),
            cb(2),
        );
    }
}

/// An action callback's signature (`PurpleRequestActionCb`).
type ActionCb = unsafe extern "C" fn(*mut c_void, c_int);

/// The callback of each of an action dialog's buttons, in the order they are listed.
const BUTTONS: [ActionCb; 3] = [first_button, second_button, third_button];

/// The first button listed (whatever index the UI passes: see [`action_dialog`]).
unsafe extern "C" fn first_button(data: *mut c_void, _ui_index: c_int) {
    ffi_boundary!((), {
        non_null!(data);
        action_chosen(data, 0);
    })
}

/// The second button listed.
unsafe extern "C" fn second_button(data: *mut c_void, _ui_index: c_int) {
    ffi_boundary!((), {
        non_null!(data);
        action_chosen(data, 1);
    })
}

/// The third button listed.
unsafe extern "C" fn third_button(data: *mut c_void, _ui_index: c_int) {
    ffi_boundary!((), {
        non_null!(data);
        action_chosen(data, 2);
    })
}

/// Button `index` (its place in the list [`action_dialog`] was given) of the dialog `data`
/// stands for was chosen.
fn action_chosen(data: *mut c_void, index: usize) {
    let Some(p) = take_answered(data) else { return };
    match (p, index) {
        // The contact was renamed since (the window went with it): the name may be someone
        // else's now, who would be asked the question or shown as the one to compare.
        (Pending::Verify { r, window }, 0 | 1) => {
            if let Some(now) = super::windows::renamed_from(window, &r.key()) {
                r.with_peer(now.peer.as_str())
                    .system_line(&texts::verify_renamed(&r.peer, &now.peer));
            } else if index == 0 {
                compare(&r);
            } else {
                ask(&r);
            }
        }
        (Pending::Compare { r, key, window }, 0) => {
            // The contact was renamed since (the window went with it): the comparison was
            // of the old name's key; nothing is recorded for a name that is not its own.
            if super::windows::renamed_from(window, &r.key()).is_some() {
                r.system_line(&texts::not_marked_verified(
                    "the contact was renamed since the dialog opened; compare again",
                ));
            } else {
                mark_verified(&r, &key);
            }
        }
        (
            Pending::KeyChanged {
                r,
                key,
                at,
                other_client,
            },
            0,
        ) if at.elapsed() < ARMED => {
            r.conversation_or_new();
            r.system_line(&texts::accept_too_soon(
                &Shown::new(&r.peer),
                &key.fingerprint().to_string(),
                other_client,
            ));
        }
        (
            Pending::KeyChanged {
                r,
                key,
                other_client,
                ..
            },
            0,
        ) => {
            accept_new_key(&r, &key, Some(other_client));
        }
        // "Send unencrypted"; "Don't send" sends nothing (the text was given back in the
        // window when the line was held back).
        (Pending::Sibling { r, held, at, .. }, 0) if at.elapsed() < ARMED => {
            let shown = held.shown();
            // The text given back is its only copy now: in a box if its window closed.
            if r.conversation().is_null() {
                r.failure_line(&texts::sibling_answer_too_soon(&shown));
            } else {
                r.system_line(&texts::sibling_answer_too_soon(&shown));
            }
        }
        (
            Pending::Sibling {
                r, held, window, ..
            },
            0,
        ) => super::siblings::send_confirmed(&r, held, window),
        // Said only while it is true: another client's key holds nothing (that client
        // gets nothing until then, as its line said), and a key accepted meanwhile
        // (`/sotto accept`) holds nothing any more.
        (
            Pending::KeyChanged {
                r,
                key,
                other_client: false,
                ..
            },
            _,
        ) if service::waiting(&r).is_some_and(|(_, blocked)| blocked)
            && service::peer_key(&r) == Some(key) =>
        {
            r.system_line(&texts::still_holding(
                &Shown::new(&r.peer),
                &key.fingerprint().to_string(),
            ))
        }
        _ => {}
    }
}

/// "Verify contact..." and `/sotto verify`: choose between comparing fingerprints and asking a
/// question.
pub(crate) fn verify(r: &ConvRef) {
    r.conversation_or_new();
    if service::peer_key(r).is_none() {
        r.system_line(&texts::verify_needs_session(&Shown::new(&r.peer)));
        return;
    }
    action_dialog(
        Some(r),
        &texts::verify_dialog(&Shown::new(&r.peer)),
        0,
        &[c"Compare fingerprints", c"Ask a question", c"Cancel"],
        Pending::Verify {
            r: r.clone(),
            // SAFETY: `r.conversation()` is null or live.
            window: unsafe { super::windows::known(r.conversation()) }.map(|(id, _)| id),
        },
    );
}

/// Both fingerprints, and "They match: mark verified".
fn compare(r: &ConvRef) {
    let (Some((ours, _)), Some(key)) = (service::fingerprints(r), service::peer_key(r)) else {
        r.system_line(texts::nothing_to_compare());
        return;
    };
    let text = texts::compare_dialog(&Shown::new(&r.peer), &ours, &key.fingerprint().to_string());
    action_dialog(
        Some(r),
        &text,
        1,
        &[c"They match: mark verified", c"Cancel"],
        Pending::Compare {
            r: r.clone(),
            key,
            // SAFETY: `r.conversation()` is null or live.
            window: unsafe { super::windows::known(r.conversation()) }.map(|(id, _)| id),
        },
    );
}

/// The user compared fingerprints and they matched: `key` becomes verified (and, if it is a
/// changed key still waiting for acceptance, accepted: checking it is exactly what we asked for).
fn mark_verified(r: &ConvRef, key: &IdentityPublic) {
    // What it did shows in the window, also when it was closed since the dialog opened.
    r.conversation_or_new();
    // A conversation that cannot be read now (its row, a read error) may hold on this very
    // key: nothing is recorded (that would lift a hold the disk still has).
    let Some((_, blocked)) = service::waiting(r) else {
        r.system_line(&texts::not_marked_verified(
            "its conversation could not be read",
        ));
        return;
    };
    // The dialog showed the session's key then; another session (a new key, a rename) since
    // means the user compared a key the conversation no longer uses. (With no session now,
    // the comparison the user made is still of that key.)
    if service::peer_key(r).is_some_and(|now| now != *key) {
        r.system_line(&texts::not_marked_verified(
            "the contact's key changed since the dialog opened; compare again",
        ));
        return;
    }
    if blocked && service::peer_key(r).as_ref() == Some(key) && !accept_new_key(r, key, Some(false))
    {
        // Not accepted (the decision could not be saved; the window says so): not recorded
        // as verified either, or the trust table would list a key the conversation holds.
        return;
    }
    match service::mark_verified(r, key) {
        Some(Ok(())) => r.system_line(&texts::compared_verified(
            &Shown::new(&r.peer),
            &key.fingerprint().to_string(),
        )),
        Some(Err(why)) => r.system_line(&texts::not_marked_verified(&why)),
        None => r.system_line(&texts::not_marked_verified("no key store")),
    }
}

/// The question-and-answer form.
fn ask(r: &ConvRef) {
    let key = service::peer_key(r);
    let (Some(ConvState::Encrypted), Some(key)) = (service::conv_state(r), key) else {
        r.system_line(texts::ask_needs_session());
        return;
    };
    let Some(data) = park(Pending::Ask { r: r.clone(), key }) else {
        return;
    };
    let text = texts::ask_dialog(&Shown::new(&r.peer));
    let (title, primary, secondary) = (
        glue::cstring(&text.title),
        glue::cstring(&text.primary),
        glue::cstring(&text.secondary),
    );
    let (q_label, a_label) = (
        glue::cstring(texts::ASK_QUESTION_LABEL),
        glue::cstring(texts::ASK_ANSWER_LABEL),
    );
    let who = glue::cstring(&r.peer);
    // SAFETY: strings valid for the calls (copied by libpurple); the new fields object is handed
    // to purple_request_fields, which owns it from then on; the callbacks have
    // PurpleRequestFieldsCb's (user_data, fields) signature.
    unsafe {
        let fields = sys::purple_request_fields_new();
        let group = sys::purple_request_field_group_new(std::ptr::null());
        sys::purple_request_fields_add_group(fields, group);
        for (id, label) in [(c"question", &q_label), (c"answer", &a_label)] {
            let f = sys::purple_request_field_string_new(
                id.as_ptr(),
                label.as_ptr(),
                std::ptr::null(),
                0,
            );
            sys::purple_request_field_set_required(f, 1);
            sys::purple_request_field_group_add_field(group, f);
        }
        sys::purple_request_fields(
            plugin_handle(),
            title.as_ptr(),
            primary.as_ptr(),
            secondary.as_ptr(),
            fields,
            c"Ask".as_ptr(),
            glue::callback(ask_ok as *const c_void),
            c"Cancel".as_ptr(),
            glue::callback(dismissed as *const c_void),
            r.account(),
            who.as_ptr(),
            r.conversation(),
            data,
        );
    }
}

/// A string field of a fields dialog.
///
/// # Safety
/// `fields` must be the live fields object of the callback being run.
unsafe fn field_string(fields: *mut sys::PurpleRequestFields, id: &CStr) -> String {
    // SAFETY: per the caller; the value is copied at once.
    unsafe { cstr_to_string(sys::purple_request_fields_get_string(fields, id.as_ptr())) }
        .unwrap_or_default()
}

unsafe extern "C" fn ask_ok(data: *mut c_void, fields: *mut sys::PurpleRequestFields) {
    ffi_boundary!((), {
        non_null!(data);
        non_null!(fields);
        let Some(Pending::Ask { r, key }) = take_answered(data) else {
            return;
        };
        // The contact's key changed (a new session, a rename, another client) while the form
        // was open: the question was written for the key the user was looking at, and a right
        // answer from another key would verify that one. Nothing is sent.
        match service::peer_key(&r) {
            Some(now) if now == key => {}
            // The session ended (or a new one is starting) meanwhile.
            None => {
                r.conversation_or_new();
                r.system_line(texts::ask_needs_session());
                return;
            }
            Some(_) => {
                r.conversation_or_new();
                r.system_line(&texts::ask_key_changed(&Shown::new(&r.peer)));
                return;
            }
        }
        // SAFETY: the fields of this callback.
        let (q, a) = unsafe {
            (
                field_string(fields, c"question"),
                SecretString::new(field_string(fields, c"answer")),
            )
        };
        ask_question(&r, q.trim(), a.trim());
    })
}

/// Any dialog closed without a decision: forget what it was about.
pub(super) unsafe extern "C" fn dismissed(data: *mut c_void, _fields: *mut c_void) {
    ffi_boundary!((), {
        non_null!(data);
        drop(take(data));
    })
}

/// Ask `question`, expecting `answer` (from the form or `/sotto verify Q | A`).
pub(crate) fn ask_question(r: &ConvRef, question: &str, answer: &str) {
    if question.is_empty() || answer.is_empty() {
        r.system_line(texts::ask_incomplete());
        return;
    }
    service::user_acted(r);
    if let Some(mut fx) = act_said(r, |conv, rng| conv.ask_question(question, answer, rng)) {
        // Asked only if the question left: with no settled session (none yet, or a start of
        // ours under way) nothing is sent, and waiting for an answer would wait forever.
        // (A save that failed says so itself.) Lines out but the question not among them (an
        // earlier run's abort only) is not asked either.
        let aborted = fx
            .events
            .iter()
            .any(|e| matches!(e, crate::protocol::Event::VerificationAborted));
        let made = !fx.inject.is_empty() && !aborted;
        let unsaved = not_saved(&fx);
        if !made && !unsaved {
            fx.events
                .retain(|e| !matches!(e, crate::protocol::Event::VerificationAborted));
        }
        // The protocol took every line (offline, it did not: the question never left).
        let took = present::apply(r, fx);
        // A question of the contact's that waited for our answer ended with ours (the peer
        // was told): its dialog is stale.
        if !service::question_pending(r) {
            close_answer_dialog(r);
        }
        if made && took {
            // As the contact sees it: a question over the limit is cut on the wire.
            r.system_line(&texts::asked(
                &Shown::new(&r.peer),
                crate::protocol::verify::bounded_question(question),
            ));
        } else if !unsaved {
            // Nothing waits for a reply to a question that did not leave (the run stayed, its
            // secrets kept, and a question of the contact's crossing it could be dropped for it).
            if made {
                let _ = service::act(r, |conv, _| conv.question_not_sent());
            }
            r.system_line(&texts::question_not_sent(&Shown::new(&r.peer)));
        }
    }
}

/// The contact asked `question` (`Event::VerificationQuestion`): its answer dialog opens by
/// itself, unless the user answered none of the questions whose dialogs did lately
/// (`AnswerDialogs::may_open`: 30 s, then longer; or one opened anywhere less than 30 s ago) (each takes the keyboard from what the user is typing, and a contact can ask a
/// question with every line). `false` when none opened: the window says how to answer, and
/// `/sotto answer` alone opens it ([`answer`]). A dialog open for this very question counts
/// as opened.
pub(crate) fn question_arrived(r: &ConvRef, question: &str) -> bool {
    if answer_dialog_open(r, question) && service::question_pending(r) {
        return true;
    }
    // No window to write the question in (an XMPP room left): the dialog is the only place
    // it shows.
    if r.conversation().is_null() {
        answer(r, question);
        return true;
    }
    let (key, now) = (r.key(), service::now_secs());
    let opens = with_state(|state| state.answer_dialogs.may_open(&key, now)).unwrap_or(true);
    if opens {
        answer(r, question);
    } else {
        // A dialog still showing an earlier question (a peer that asks again without ending
        // its run) would answer or decline a question nobody waits on.
        close_answer_dialog(r);
    }
    opens
}

/// Whether an answer dialog for `question` is open in `r`'s conversation.
pub(crate) fn answer_dialog_open(r: &ConvRef, question: &str) -> bool {
    let key = r.key();
    with_state(|state| {
        state
            .answer_dialog(&key)
            .is_some_and(|(_, q)| q == question)
    })
    .unwrap_or(false)
}

/// An input dialog for the answer to the contact's `question`: asked for by the user (`/sotto
/// answer` alone, or an answer typed for an earlier question), or opened by
/// [`question_arrived`].
///
/// One such dialog per conversation: one already open for this very question stays; one open
/// for an earlier question (answered with `/sotto answer` meanwhile, or replaced) is closed
/// first, so the new question gets its dialog (it used to get none while a stale one was
/// open). An answer typed in a dialog is still checked against the question it showed
/// ([`answer_ok`]).
pub(crate) fn answer(r: &ConvRef, question: &str) {
    if answer_dialog_open(r, question) && service::question_pending(r) {
        return;
    }
    close_answer_dialog(r);
    let Some(data) = park(Pending::Answer {
        r: r.clone(),
        question: question.to_owned(),
    }) else {
        return;
    };
    let key = r.key();
    let spent = with_state(|state| state.answer_dialogs.answers_spent(&key)).unwrap_or(0);
    let text = texts::answer_dialog(
        &Shown::new(&r.peer),
        &texts::quotable(question),
        service::key_not_accepted(r),
        spent,
    );
    let (title, primary, secondary) = (
        glue::cstring(&text.title),
        glue::cstring(&text.primary),
        glue::cstring(&text.secondary),
    );
    let who = glue::cstring(&r.peer);
    // The dialog opens while the user may be typing a line in the conversation, and the window
    // manager gives it the keyboard: Pidgin's one-line box took that line's Enter as "Answer",
    // so the line went as a wrong answer ("verification FAILED" on both sides) and was gone.
    // A multi-line box takes Enter as a new line: the words stay in sight, nothing is sent
    // until the user clicks Answer (line breaks count as spaces: `normalize_answer`). Finch's
    // box never answers on Enter.
    // SAFETY: strings valid for the call (copied by libpurple); both callbacks have
    // PurpleRequestInputCb's (user_data, text) signature. The dialog is its own owner (its
    // number, never the address of anything), to close exactly it later: libpurple's handle
    // of it is freed without a word when the user closes the window, and closing by that
    // handle could then close another dialog that got its address.
    unsafe {
        sys::purple_request_input(
            data,
            title.as_ptr(),
            primary.as_ptr(),
            secondary.as_ptr(),
            c"".as_ptr(),
            1, // multiline: Enter is a new line in the box, never "Answer" (below)
            0,
            std::ptr::null_mut(),
            c"Answer".as_ptr(),
            glue::callback(answer_ok as *const c_void),
            c"Decline".as_ptr(),
            glue::callback(answer_declined as *const c_void),
            r.account(),
            who.as_ptr(),
            r.conversation(),
            data,
        );
    }
}

/// Closes the answer dialog open for `r`'s conversation, if any (its question was answered
/// from the command line, or another replaced it): nothing it would send is sent.
pub(crate) fn close_answer_dialog(r: &ConvRef) {
    super::windows::close_answer_dialog(&r.key());
}

unsafe extern "C" fn answer_ok(data: *mut c_void, text: *const c_char) {
    ffi_boundary!((), {
        non_null!(data);
        let Some(Pending::Answer { r, question, .. }) = take_answered(data) else {
            return;
        };
        let answer = SecretString::new(cstr_to_string(text).unwrap_or_default());
        let Some(current) = service::pending_question(&r) else {
            // Answered, withdrawn or ended meanwhile: nothing is sent, and the window says so.
            r.conversation_or_new();
            r.system_line(&texts::no_question(&Shown::new(&r.peer)));
            return;
        };
        // The contact asked another question since this dialog opened: this answer was
        // typed for the one it showed. Nothing is sent; the current question gets its dialog.
        if current != question {
            r.system_line(&texts::question_changed(&Shown::new(&r.peer), &current));
            self::answer(&r, &current);
            return;
        }
        if answer.trim().is_empty() {
            decline(&r);
        } else {
            answer_question(&r, answer.trim());
        }
    })
}

unsafe extern "C" fn answer_declined(data: *mut c_void, _text: *const c_char) {
    ffi_boundary!((), {
        non_null!(data);
        if let Some(Pending::Answer { r, question }) = take_answered(data) {
            // Only the question this dialog showed: a newer one is the user's to decline when
            // seen, and the window says it waits.
            match service::pending_question(&r) {
                Some(current) if current == question => decline(&r),
                Some(current) => {
                    r.system_line(&texts::not_declined(&Shown::new(&r.peer), &current))
                }
                None => {}
            }
        }
    })
}

/// Our answer to the contact's question (from the dialog or `/sotto answer`). The contact's
/// next question opens its dialog by itself again ([`question_arrived`]).
pub(crate) fn answer_question(r: &ConvRef, answer: &str) {
    let key = r.key();
    let _ = with_state(|state| state.answer_dialogs.answered(&key));
    service::user_acted(r);
    if let Some(fx) = act_said(r, |conv, rng| conv.answer_question(answer, rng)) {
        let replied = !fx.inject.is_empty();
        let unsaved = not_saved(&fx);
        // Nothing sent and the question still waits: the contact's client that asked (the
        // one holding the session) is away (`Conversation::answer_question`).
        if !replied && !unsaved && service::question_pending(r) {
            present::apply(r, fx);
            r.system_line(&texts::answer_held_for_away_client(&Shown::new(&r.peer)));
            return;
        }
        // The connection did not take the reply (offline): the run ends here, its secrets
        // with it, and the window says so (it waited, replied in name only, for a result that
        // could not come, and said nothing).
        if !present::apply(r, fx) && replied && !unsaved {
            let _ = service::act(r, |conv, _| conv.question_not_sent());
            r.system_line(&texts::answer_not_sent(&Shown::new(&r.peer)));
        }
    }
}

/// `/sotto cancel`: the verification running with `r`'s contact ends (our question, or theirs
/// waiting for our answer); the contact's client is told, and a dialog for the question closes.
pub(crate) fn cancel_verification(r: &ConvRef) {
    if !service::verification_running(r) {
        r.system_line(&texts::nothing_to_cancel(&Shown::new(&r.peer)));
        return;
    }
    // Our answer already left: the asker may have its result (the two windows may then say
    // different things), or never send it (it restarted): ended here all the same, and said.
    if service::verification_answered(r) {
        r.system_line(&texts::answer_already_sent(&Shown::new(&r.peer)));
    }
    close_answer_dialog(r);
    if let Some(fx) = act_said(r, |conv, rng| conv.abort_verification(rng)) {
        present::apply(r, fx);
    }
}

fn decline(r: &ConvRef) {
    if let Some(fx) = act_said(r, |conv, rng| conv.abort_verification(rng)) {
        present::apply(r, fx);
    }
}

/// [`service::act`] for something the user asked for: when the conversation cannot be had
/// (its record or the store cannot be read) the window says nothing was done (it said
/// nothing, and the user waited for a question, an answer or a cancel that never went).
fn act_said(
    r: &ConvRef,
    act: impl FnOnce(
        &mut crate::protocol::Conversation,
        &mut rand_core::OsRng,
    ) -> crate::protocol::ReceiveOutcome,
) -> Option<crate::sessions::Effects> {
    let fx = service::act(r, act);
    if fx.is_none() {
        r.conversation_or_new();
        r.system_line(&texts::refused_no_state(
            texts::Refused::Action,
            service::unavailable().as_deref(),
        ));
    }
    fx
}

/// The contact's key changed to `key` (`Event::PeerKeyChanged`): explain, and offer to accept
/// exactly that key.
pub(crate) fn key_changed(r: &ConvRef, key: IdentityPublic) {
    match make_way_for_key_dialog(r, &key, false) {
        Way::Open => {}
        Way::Keep => return,
        Way::Defer => {
            let later = r.clone();
            // Only if it is still the key to ask about then (and not accepted meanwhile).
            let open = move || {
                if service::peer_key(&later) == Some(key)
                    && service::waiting(&later).is_some_and(|(_, blocked)| blocked)
                {
                    key_changed(&later, key);
                }
            };
            defer(r, Box::new(open));
            return;
        }
    }
    let fingerprint = key.fingerprint().to_string();
    action_dialog(
        Some(r),
        &texts::key_changed_dialog(&Shown::new(&r.peer), &fingerprint),
        1,
        &[c"Accept the new key", c"Keep holding messages"],
        Pending::KeyChanged {
            r: r.clone(),
            key,
            other_client: false,
            at: std::time::Instant::now(),
        },
    );
}

/// Another client of the contact (a second login) has a key the user has not accepted: the
/// dialog offers to accept exactly this key for it (nothing is held: that client only gets
/// nothing until then).
pub(crate) fn other_client_key(r: &ConvRef, address: &str, key: IdentityPublic) {
    if !matches!(make_way_for_key_dialog(r, &key, true), Way::Open) {
        return;
    }
    let fingerprint = key.fingerprint().to_string();
    action_dialog(
        Some(r),
        &texts::other_client_key_dialog(
            &Shown::new(&r.peer),
            &texts::quoted_address(address),
            &fingerprint,
        ),
        1,
        &[c"Accept this client's key", c"Not now"],
        Pending::KeyChanged {
            r: r.clone(),
            key,
            other_client: true,
            at: std::time::Instant::now(),
        },
    );
}

/// The contact states other names than the ones we see: explain, and offer to accept this key
/// with those names (exactly the key shown), or keep holding.
pub(crate) fn names_mismatch(
    r: &ConvRef,
    key: IdentityPublic,
    me: &str,
    stated_self: &str,
    stated_peer: &str,
) {
    match make_way_for_key_dialog(r, &key, false) {
        Way::Open => {}
        Way::Keep => return,
        Way::Defer => {
            let later = r.clone();
            let (me, stated_self, stated_peer) = (
                me.to_owned(),
                stated_self.to_owned(),
                stated_peer.to_owned(),
            );
            let open = move || {
                if service::peer_key(&later) == Some(key)
                    && service::waiting(&later).is_some_and(|(_, blocked)| blocked)
                {
                    names_mismatch(&later, key, &me, &stated_self, &stated_peer);
                }
            };
            defer(r, Box::new(open));
            return;
        }
    }
    let text = texts::names_mismatch_dialog(
        &Shown::new(&r.peer),
        &Shown::new(me),
        &texts::quotable(stated_self),
        &texts::quotable(stated_peer),
    );
    action_dialog(
        Some(r),
        &text,
        1,
        &[
            c"Accept: I know why the names differ",
            c"Keep holding messages",
        ],
        Pending::KeyChanged {
            r: r.clone(),
            key,
            other_client: false,
            at: std::time::Instant::now(),
        },
    );
}

/// The menu's "Review the key and accept it...": the dialog the hold opened, opened again: the
/// names one (with the names the session stated), or the key's. One still open, or closed
/// with its window's close button (which calls nothing back in Pidgin, and so is still
/// counted open), is replaced: the user asked for it.
pub(crate) fn review_held_key(r: &ConvRef) {
    let Some(key) = service::peer_key(r) else {
        return;
    };
    close_key_dialogs(r, |_, other_client| !other_client);
    match service::names_hold(r) {
        Some((stated_self, stated_peer)) => {
            let me = r.names().me;
            names_mismatch(r, key, &me, &stated_self, &stated_peer);
        }
        None => key_changed(r, key),
    }
}

/// How long an open key dialog is kept when another event would show the same thing again
/// (the same key; another client's key while one of those is open).
const KEY_DIALOG_KEPT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a dialog about the contact's key waits before it opens when it replaces one about
/// another key (milliseconds): a click meant for the dialog that closed lands on nothing,
/// never on the Accept of the next key.
const KEY_DIALOG_DELAY_MS: u32 = 2000;

/// What [`make_way_for_key_dialog`] decided.
enum Way {
    /// Open the dialog now.
    Open,
    /// One showing the same thing stays: open nothing.
    Keep,
    /// One about another key was closed just now (or a dialog already waits): open it in a
    /// moment ([`defer`]).
    Defer,
}

/// Most dialogs about lines held back for a sibling conversation open at once: Pidgin's close
/// button calls nothing back, so one closed that way is forgotten only here, its text with it.
const SIBLING_DIALOGS_KEPT: usize = 8;

/// A line typed to `r` was held back for another conversation of the contact in the same
/// window (`siblings`): `text` asks whether to send it unencrypted ("Send unencrypted", or
/// "Don't send", the default, which Enter picks). The dialog of an earlier line held back for
/// `r` closes (its text was given back in the window too): one question per conversation, about
/// its latest line.
pub(crate) fn confirm_sibling(r: &ConvRef, text: &Dialog, held: HeldLine) {
    let conv = r.key();
    let stale = with_state(|state| {
        let mut open: Vec<(usize, std::time::Instant, bool)> = state
            .dialogs
            .iter()
            .filter_map(|(id, p)| match p {
                Pending::Sibling { r, at, .. } => Some((*id, *at, r.key() == conv)),
                _ => None,
            })
            .collect();
        open.sort_by_key(|(_, at, _)| *at);
        let others = open.iter().filter(|(_, _, same)| !same).count();
        let over = (others + 1).saturating_sub(SIBLING_DIALOGS_KEPT);
        let mut stale: Vec<usize> = open
            .iter()
            .filter(|(_, _, same)| !same)
            .take(over)
            .map(|(id, ..)| *id)
            .collect();
        stale.extend(open.iter().filter(|(_, _, same)| *same).map(|(id, ..)| *id));
        for id in &stale {
            state.dialogs.remove(id);
        }
        stale
    })
    .unwrap_or_default();
    // Their Pending is gone (the held text wiped): a callback would do nothing.
    close_own(stale);
    let Some(data) = park(Pending::Sibling {
        r: r.clone(),
        held,
        at: std::time::Instant::now(),
        // SAFETY: `r.conversation()` is null or live.
        window: unsafe { super::windows::known(r.conversation()) }.map(|(id, _)| id),
    }) else {
        return;
    };
    // Opened from a timeout, not inside the Enter that sent the line: Finch gives the keyboard
    // to a window opened while it handles a key (gntwm.c), and the next line typed went into
    // the dialog, where an arrow key or Tab (editing habits) then Enter chose "Send
    // unencrypted" for the line held back. Opened from the main loop, it waits behind the
    // conversation, marked. (Pidgin's window manager focuses it either way: see
    // [`ARMED`].)
    let (r, text) = (r.clone(), text.clone());
    open_soon(
        data as usize,
        Box::new(move || {
            // Opens now: its time to be read counts from now ([`ARMED`]).
            let parked = with_state(|state| match state.dialogs.get_mut(&(data as usize)) {
                Some(Pending::Sibling { at, .. }) => {
                    *at = std::time::Instant::now();
                    true
                }
                _ => false,
            });
            if parked == Some(true) {
                let buttons = [c"Send unencrypted", c"Don't send"];
                request_action(Some(&r), &text, 1, &buttons, data, true);
            }
        }),
    );
}

/// "Send unencrypted", or accepting a key, chosen sooner than this after its dialog opened does
/// nothing but say so: a key meant for the conversation (an arrow or Tab, then Space or Enter)
/// can reach a dialog that took the keyboard in Pidgin, whose window manager focuses a dialog
/// as it opens, also one a received line opens while the user types. (Space or Enter alone
/// picks the default, which keeps things as they are.)
const ARMED: std::time::Duration = std::time::Duration::from_millis(1500);

/// Runs `open` from a 0 ms timeout of the main loop (removed at unload if it has not run).
fn open_soon(id: usize, open: Box<dyn FnOnce()>) {
    // No state to keep it in (never while a line is sent): opened now, as before.
    if with_state(|_| ()).is_none() {
        open();
        return;
    }
    // SAFETY: `open_soon_due` has GSourceFunc's signature; the data is a number, never
    // dereferenced.
    let timer = unsafe { sys::purple_timeout_add(0, Some(open_soon_due), id as *mut c_void) };
    let _ = with_state(|state| state.soon_dialogs.push((id, timer, open)));
}

/// The timeout of [`open_soon`]: runs what waits under its number, once.
unsafe extern "C" fn open_soon_due(data: sys::gpointer) -> sys::gboolean {
    super::boundary::ffi_boundary!(0, {
        let id = data as usize;
        // With Sotto not loaded (a state dropped by a path that did not remove this timer),
        // never again: it would fire every turn of the main loop for good (found by a review
        // of the FFI layer; the unload removes it).
        if !super::state::is_loaded() {
            return 0;
        }
        let Some(open) = with_state(|state| {
            let i = state.soon_dialogs.iter().position(|(n, ..)| *n == id)?;
            Some(state.soon_dialogs.remove(i).2)
        }) else {
            // The state is borrowed (nothing here runs the main loop inside a borrow, but if
            // it did): again on the next turn, its entry kept for the unload to remove.
            return 1;
        };
        if let Some(open) = open {
            open();
        }
        0
    })
}

/// Whether a dialog about `key` (`other`: another client's) may open in `r`'s conversation:
/// one key dialog at a time per conversation and kind, however often a peer changes keys.
///
/// One about the contact's key that shows another key than `key` is stale (the conversation is
/// on `key` now): it closes, and the new one opens a moment later ([`KEY_DIALOG_DELAY_MS`],
/// and so does any other that comes while one waits), never at once in its place: a server
/// completing handshake after handshake could have had a click meant for one key land on the
/// Accept of the next. One showing the same thing (the same key; for another client's, any)
/// stays, for [`KEY_DIALOG_KEPT`]: a flood of key changes or made-up clients does not make
/// dialogs flicker. After that, it is replaced: the user may have closed it with its window's
/// close button, which calls nothing back in Pidgin (kept for ever, it stopped every later
/// dialog of its kind for that contact).
fn make_way_for_key_dialog(r: &ConvRef, key: &IdentityPublic, other: bool) -> Way {
    let conv = r.key();
    let (keeps, swaps, waiting) = with_state(|state| {
        let young = |p: &Pending, same: bool| {
            matches!(p, Pending::KeyChanged { r, key: shown, other_client, at }
                if r.key() == conv
                    && *other_client == other
                    && (other || (shown == key) == same)
                    && at.elapsed() < KEY_DIALOG_KEPT)
        };
        let keeps = state.dialogs.values().any(|p| young(p, true));
        let swaps = !other && state.dialogs.values().any(|p| young(p, false));
        let waiting = !other && state.deferred_dialogs.iter().any(|(k, ..)| *k == conv);
        (keeps, swaps, waiting)
    })
    .unwrap_or((false, false, false));
    if keeps {
        return Way::Keep;
    }
    close_key_dialogs(r, |_, other_client| other_client == other);
    if swaps || waiting {
        Way::Defer
    } else {
        Way::Open
    }
}

/// Opens a key dialog for `r`'s conversation in [`KEY_DIALOG_DELAY_MS`] (`open` calls the
/// dialog's function again): one waiting for the conversation already is replaced, its time
/// kept.
fn defer(r: &ConvRef, open: Box<dyn FnOnce()>) {
    let conv = r.key();
    let start = with_state(|state| {
        let due = std::time::Instant::now()
            + std::time::Duration::from_millis(u64::from(KEY_DIALOG_DELAY_MS));
        let due = match state.deferred_dialogs.iter().position(|(k, ..)| *k == conv) {
            Some(i) => state.deferred_dialogs.remove(i).1,
            None => due,
        };
        state.deferred_dialogs.push((conv, due, open));
        state.deferred_timer == 0
    })
    .unwrap_or(false);
    if start {
        arm_deferred_timer();
    }
}

/// Starts the one-shot timeout that opens the waiting dialogs.
fn arm_deferred_timer() {
    // SAFETY: `open_deferred` has GSourceFunc's signature; no data pointer. Removed at unload
    // (`close_all_key_dialogs`) if it has not run.
    let id = unsafe {
        sys::purple_timeout_add(
            KEY_DIALOG_DELAY_MS,
            Some(open_deferred),
            std::ptr::null_mut(),
        )
    };
    let _ = with_state(|state| state.deferred_timer = id);
}

/// The timeout: opens the dialogs whose time has come (each checks again that its key is
/// still the one to ask about), and waits again for the others.
unsafe extern "C" fn open_deferred(_data: sys::gpointer) -> sys::gboolean {
    super::boundary::ffi_boundary!(0, {
        let now = std::time::Instant::now();
        let due = with_state(|state| {
            state.deferred_timer = 0;
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut state.deferred_dialogs)
                .into_iter()
                .partition(|(_, at, _)| *at <= now + std::time::Duration::from_millis(50));
            state.deferred_dialogs = later;
            due
        })
        .unwrap_or_default();
        for (_, _, open) in due {
            open();
        }
        // Waiting ones left, and no timeout for them yet (an `open` above may have started
        // one): one timeout at a time, the one unload removes.
        let more =
            with_state(|state| state.deferred_timer == 0 && !state.deferred_dialogs.is_empty())
                .unwrap_or(false);
        if more {
            arm_deferred_timer();
        }
        0
    })
}

/// Closes the key dialogs open for `r`'s conversation that `which` says (given the key shown
/// and whether it is another client's).
fn close_key_dialogs(r: &ConvRef, which: impl Fn(&IdentityPublic, bool) -> bool) {
    let conv = r.key();
    let ids = with_state(|state| {
        let ids: Vec<usize> = state
            .dialogs
            .iter()
            .filter(|(_, p)| {
                matches!(p, Pending::KeyChanged { r, key, other_client, .. }
                    if r.key() == conv && which(key, *other_client))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            state.dialogs.remove(id);
        }
        ids
    })
    .unwrap_or_default();
    // Their Pending is gone: a callback would do nothing.
    close_own(ids);
}

/// Closes the dialogs numbered `ids` (their Pending already removed).
fn close_own(ids: Vec<usize>) {
    for id in ids {
        // SAFETY: the owner handle the dialog was opened with (its number, see
        // `action_dialog`); libpurple closes the requests it still has with it, none when the
        // user closed it already.
        unsafe { sys::purple_request_close_with_handle(id as *mut c_void) };
    }
}

/// The account `protocol`/`username` is being destroyed (deleted; `account-destroying`): the
/// dialogs about its conversations that own themselves (a key, a question, a line held back)
/// close, answering nothing, and each line held back for a sibling conversation is given back
/// in one box: it was given back in its window, which went with the account, and the dialog,
/// closed unanswered (Pidgin calls nothing then), kept its only copy until the unload wiped it
/// (found by a read-only review). The others (Verify, Compare, a question's form, the
/// settings) cannot be closed one by one: answered, they do nothing ([`take_answered`]).
pub(crate) fn account_going(protocol: &str, username: &str, normalized: &str) {
    let taken: Vec<(usize, Pending)> = with_state(|state| {
        // Key dialogs waiting to open for its conversations go too (they would open about an
        // account that is gone).
        state
            .deferred_dialogs
            .retain(|(k, ..)| !(k.protocol == protocol && k.account == normalized));
        let ids: Vec<usize> = state
            .dialogs
            .iter()
            .filter(|(_, p)| match p {
                Pending::KeyChanged { r, .. }
                | Pending::Answer { r, .. }
                | Pending::Sibling { r, .. } => r.protocol == protocol && r.account == username,
                _ => false,
            })
            .map(|(id, _)| *id)
            .collect();
        // Taken out before they close (Finch calls an input dialog's cancel as it goes).
        ids.into_iter()
            .filter_map(|id| state.dialogs.remove(&id).map(|p| (id, p)))
            .collect()
    })
    .unwrap_or_default();
    let held: Vec<(String, SecretString)> = taken
        .iter()
        .filter_map(|(_, p)| match p {
            Pending::Sibling { r, held, .. } => {
                Some((Shown::new(&r.peer).to_string(), held.shown()))
            }
            _ => None,
        })
        .collect();
    close_own(taken.iter().map(|(id, _)| *id).collect());
    if !held.is_empty() && !super::state::is_quitting() {
        glue::notify_long(
            std::ptr::null_mut(),
            "Messages held back were NOT sent: the account is gone",
            &texts::held_back_account_gone(&held),
        );
    }
}

/// Closes every key dialog, answer dialog and dialog about a line held back (the plugin is
/// unloaded: their callbacks must not outlive it; libpurple closes the dialogs the plugin owns,
/// and these own themselves), answering none of them, and drops those waiting to open with
/// their timeout.
pub(crate) fn close_all_own_dialogs() {
    let (timer, soon) = with_state(|state| {
        state.deferred_dialogs.clear();
        (
            std::mem::replace(&mut state.deferred_timer, 0),
            std::mem::take(&mut state.soon_dialogs),
        )
    })
    .unwrap_or_default();
    if timer != 0 {
        // SAFETY: the id `purple_timeout_add` returned, not run yet (it sets the id to 0 when
        // it runs), removed once.
        unsafe { sys::purple_timeout_remove(timer) };
    }
    for (_, timer, _) in soon {
        // SAFETY: the id `purple_timeout_add` returned, not run yet (it takes its entry out
        // when it runs), removed once.
        unsafe { sys::purple_timeout_remove(timer) };
    }
    let ids = with_state(|state| {
        let ids: Vec<usize> = state
            .dialogs
            .iter()
            .filter(|(_, p)| {
                matches!(
                    p,
                    Pending::KeyChanged { .. } | Pending::Answer { .. } | Pending::Sibling { .. }
                )
            })
            .map(|(id, _)| *id)
            .collect();
        // Taken out first, as every other closing does: Finch calls an input dialog's cancel
        // callback when it destroys the window (finch/gntrequest.c), and an answer dialog's
        // cancel declines the contact's question. Quitting or unloading is no answer (at
        // Finch's quit the decline made an abort that could not leave, spending a message
        // key; a plain unload ends the sessions first, so nothing was pending then).
        for id in &ids {
            state.dialogs.remove(id);
        }
        ids
    })
    .unwrap_or_default();
    close_own(ids);
}

/// Whether the effects of a decision say it could not be saved (it was rolled back).
fn not_saved(fx: &crate::sessions::Effects) -> bool {
    fx.notices
        .iter()
        .any(|n| matches!(n, crate::sessions::Notice::NotSaved { .. }))
}

/// The user accepts the contact's changed key `expected` (the dialog showed it, or
/// `/sotto accept` named it). Refused when the session's key is another one by now.
/// `other_client`: which the dialog was about, another client of the contact's key (`true`)
/// or the conversation's own (`false`); `None` (`/sotto accept`): another client's first, then
/// the conversation's. A server that showed one key both as the session's and as a made-up
/// other client's had the session's dialog accept the made-up client, the conversation
/// still held (a review of trust, 2026-12-07).
/// Returns whether the key is accepted now.
pub(crate) fn accept_new_key(
    r: &ConvRef,
    expected: &IdentityPublic,
    other_client: Option<bool>,
) -> bool {
    // Accepted (a dialog's button, `/sotto accept`): any other dialog about that key would
    // only ask again.
    let accepted = |shown: &IdentityPublic, _| shown == expected;
    let peer = &Shown::new(&r.peer);
    // The key of another client of the contact (its dialog), accepted for that client.
    let other = match other_client {
        Some(false) => None,
        _ => service::accept_other_client(r, &expected.fingerprint().to_string()),
    };
    if let Some(fx) = other {
        // Rolled back when it could not be saved (the effects say so): nothing accepted.
        let saved = !not_saved(&fx);
        if saved {
            close_key_dialogs(r, accepted);
        }
        present::apply(r, fx);
        if !saved {
            r.system_line(&texts::accept_not_saved(
                peer,
                &expected.fingerprint().to_string(),
                true,
            ));
        }
        return saved;
    }
    // The other client's dialog accepts for that client only: it is gone (it started again,
    // or its session ended), and the conversation's own hold is not its to lift.
    if other_client == Some(true) {
        r.conversation_or_new();
        let checked = expected.fingerprint().to_string();
        let held = service::waiting(r).is_some_and(|(_, blocked)| blocked);
        r.system_line(&if held {
            texts::other_client_gone(peer, &checked)
        } else {
            texts::accept_gone(peer, &checked)
        });
        return false;
    }
    match service::accept_key(r, expected) {
        Some(Ok(fx)) => {
            close_key_dialogs(r, accepted);
            present::apply(r, fx);
            r.system_line(&texts::key_accepted(peer));
            // "(key NOT accepted)" goes from the title (apply redecorates only when something
            // was held or said).
            present::redecorate(r);
            return true;
        }
        // Rolled back and still held: the effects say it could not be saved; the window says
        // how to try again (a dialog the user answered is gone: libpurple closed it).
        Some(Err(AcceptError::NotSaved(fx))) => {
            present::apply(r, *fx);
            r.system_line(&texts::accept_not_saved(
                peer,
                &expected.fingerprint().to_string(),
                false,
            ));
        }
        // The conversation waits for no key (its key is accepted): the key shown was another
        // client's that is gone by now (its session ended, or it was let go). Nothing to warn
        // about: a key-change warning here would be false, and teach clicking through them.
        Some(Err(AcceptError::Different { .. }))
            if service::waiting(r).is_some_and(|(_, blocked)| !blocked) =>
        {
            r.system_line(&texts::accept_gone(
                peer,
                &expected.fingerprint().to_string(),
            ));
        }
        Some(Err(AcceptError::Different { current })) => {
            r.system_line(&texts::accept_refused(
                peer,
                &expected.fingerprint().to_string(),
                &current.fingerprint().to_string(),
                service::waiting(r).is_some_and(|(_, blocked)| blocked),
            ));
            // The key it is now gets its own dialog (one at a time).
            key_changed(r, current);
        }
        Some(Err(AcceptError::NoKey)) => r.system_line(&texts::nothing_to_accept(peer)),
        None => {
            r.conversation_or_new();
            r.system_line(&texts::refused_no_state(
                texts::Refused::Action,
                service::unavailable().as_deref(),
            ));
        }
    }
    false
}

/// `/sotto accept [FINGERPRINT PREFIX]`: accept the contact's current key only when the user
/// names it (its first four groups or more), so what is accepted is what was checked.
pub(crate) fn accept_typed(r: &ConvRef, typed: &str) {
    // A fingerprint of another client of the contact that waits for acceptance.
    if !typed.trim().is_empty() {
        if let Some(fx) = service::accept_other_client(r, typed) {
            // Its dialog, if one is open, has nothing left to ask (answered, it said the
            // client was gone, or that the contact's key changed).
            close_key_dialogs(r, |key, other| {
                other && fingerprint_prefix_matches(&key.fingerprint(), typed)
            });
            super::present::apply(r, fx);
            return;
        }
    }
    let peer = &Shown::new(&r.peer);
    let Some(current) = service::peer_key(r) else {
        r.system_line(&texts::nothing_to_accept(peer));
        return;
    };
    let fingerprint = current.fingerprint();
    let blocked = service::waiting(r).is_some_and(|(_, blocked)| blocked);
    if typed.trim().is_empty() {
        r.system_line(&texts::accept_usage(
            peer,
            &fingerprint.to_string(),
            blocked,
        ));
    } else if fingerprint_prefix_matches(&fingerprint, typed) {
        accept_new_key(r, &current, None);
    } else if typed
        .chars()
        .any(|c| !c.is_ascii_hexdigit() && !is_fingerprint_separator(c))
    {
        // Not a mismatch: not a fingerprint at all (no "may have changed again").
        r.system_line(&texts::accept_not_a_fingerprint(
            peer,
            typed.trim(),
            blocked,
        ));
    } else if typed.chars().filter(char::is_ascii_hexdigit).count() < 5 * ACCEPT_GROUPS {
        r.system_line(&texts::accept_too_short(peer, typed.trim(), blocked));
    } else {
        r.system_line(&texts::accept_refused(
            peer,
            typed.trim(),
            &fingerprint.to_string(),
            blocked,
        ));
    }
}
