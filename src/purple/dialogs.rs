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

use crate::protocol::{ConvState, IdentityPublic};
use crate::store::{Trust, TrustRecord};

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::engine;
use super::glue::{self, cstr_to_string, ConvKey, ConvRef};
use super::state::with_state;

/// What an open dialog is about.
pub(crate) enum Pending {
    /// "Verify contact...": choose how.
    Verify(ConvRef),
    /// Both fingerprints shown; `key` is the contact's key the user is looking at.
    Compare { r: ConvRef, key: IdentityPublic },
    /// Question-and-answer form.
    Ask(ConvRef),
    /// The contact's question, waiting for our user's answer.
    Answer(ConvRef),
    /// The contact's key changed: accept it or keep holding.
    KeyChanged(ConvRef),
    /// The Known fingerprints list: each item's label and the record it stands for.
    Known(Vec<(String, TrustRecord)>),
}

/// Longest peer-controlled string put into a dialog.
const MAX_SHOWN: usize = 300;

/// `s` without control characters (each becomes a space), at most [`MAX_SHOWN`] characters.
pub(crate) fn plain(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_SHOWN)
        .collect();
    if s.chars().count() > MAX_SHOWN {
        out.push('…');
    }
    out
}

/// Keep `p` until its dialog is answered; the number goes to libpurple as user data.
fn park(p: Pending) -> Option<*mut c_void> {
    with_state(|state| {
        state.last_dialog = state.last_dialog.wrapping_add(1).max(1);
        let id = state.last_dialog;
        state.dialogs.insert(id, p);
        id as *mut c_void
    })
}

/// The dialog a callback's user data stands for (once: a dialog is answered once).
fn take(data: *mut c_void) -> Option<Pending> {
    with_state(|state| state.dialogs.remove(&(data as usize))).flatten()
}

/// The contact's key in the current (or last) session with `r`, loaded from the store if needed.
fn current_peer_key(r: &ConvRef) -> Option<IdentityPublic> {
    engine::conv_state(r)?;
    let key = r.key();
    with_state(|state| state.sessions.get(&key)?.conv.peer_identity()).flatten()
}

/// Run an action dialog (at most three buttons) with one callback for every button (it gets the
/// button's index).
fn action_dialog(
    r: Option<&ConvRef>,
    title: &str,
    primary: &str,
    secondary: &str,
    default: c_int,
    buttons: &[&CStr],
    p: Pending,
) {
    let Some(data) = park(p) else { return };
    let (title, primary, secondary) = (
        glue::cstring(title),
        glue::cstring(primary),
        glue::cstring(secondary),
    );
    let who = r.map(|r| glue::cstring(&r.peer));
    let (account, conv) = r.map_or((std::ptr::null_mut(), std::ptr::null_mut()), |r| {
        (r.account(), r.conversation())
    });
    // SAFETY: strings valid for the call (libpurple copies them); every callback has
    // PurpleRequestActionCb's (user_data, index) signature; account and conversation were looked
    // up just now (or are NULL, which libpurple accepts).
    unsafe {
        let cb = glue::callback(action_chosen as *const c_void);
        let label = |i: usize| buttons.get(i).map_or(c"".as_ptr(), |b| b.as_ptr());
        let who = who.as_ref().map_or(std::ptr::null(), |w| w.as_ptr());
        let handle = super::ffi::plugin_handle();
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
            cb,
            label(1),
            cb,
            label(2),
            cb,
        );
    }
}

unsafe extern "C" fn action_chosen(data: *mut c_void, index: c_int) {
    ffi_boundary!((), {
        non_null!(data);
        let Some(p) = take(data) else { return };
        match (p, index) {
            (Pending::Verify(r), 0) => compare(&r),
            (Pending::Verify(r), 1) => ask(&r),
            (Pending::Compare { r, key }, 0) => mark_verified(&r, &key),
            (Pending::KeyChanged(r), 0) => accept_new_key(&r),
            (Pending::KeyChanged(r), _) => r.system_line(&format!(
                "messages to {} stay held until you accept the new key (/sotto accept) or end \
                 the conversation (/sotto stop).",
                r.peer
            )),
            _ => {}
        }
    })
}

/// "Verify contact..." and `/sotto verify`: choose between comparing fingerprints and asking a
/// question.
pub(crate) fn verify(r: &ConvRef) {
    r.conversation_or_new();
    if current_peer_key(r).is_none() {
        r.system_line(&format!(
            "to verify {}, start an encrypted conversation first (/sotto start): Sotto knows \
             their key once one has started.",
            r.peer
        ));
        return;
    }
    let peer = plain(&r.peer);
    action_dialog(
        Some(r),
        "Sotto: verify contact",
        &format!("Verify {peer}"),
        &format!(
            "Make sure you are really talking to {peer} and nobody sits in the middle. Either \
             compare fingerprints with {peer} over another channel (in person, by phone), or ask \
             a question only {peer} can answer; the answer is checked inside this encrypted \
             conversation and never sent."
        ),
        0,
        &[c"Compare fingerprints", c"Ask a question", c"Cancel"],
        Pending::Verify(r.clone()),
    );
}

/// Both fingerprints, and "They match: mark verified".
fn compare(r: &ConvRef) {
    let (Some((ours, _)), Some(key)) = (engine::fingerprints(r), current_peer_key(r)) else {
        r.system_line("no fingerprints to compare: start an encrypted conversation first.");
        return;
    };
    let peer = plain(&r.peer);
    action_dialog(
        Some(r),
        "Sotto: compare fingerprints",
        &format!("Compare fingerprints with {peer}"),
        &format!(
            "Your fingerprint:\n{ours}\n\n{peer}'s fingerprint (this conversation):\n{}\n\n\
             Ask {peer} to read their own fingerprint (/sotto fingerprint) to you over another \
             channel: in person or by phone, not in this chat. Mark it verified only if every \
             group matches.",
            key.fingerprint()
        ),
        1,
        &[c"They match: mark verified", c"Cancel"],
        Pending::Compare { r: r.clone(), key },
    );
}

/// The user compared fingerprints and they matched: `key` becomes verified (and, if it is a
/// changed key still waiting for acceptance, accepted: checking it is exactly what we asked for).
fn mark_verified(r: &ConvRef, key: &IdentityPublic) {
    if engine::waiting(r).is_some_and(|(_, blocked)| blocked)
        && current_peer_key(r).as_ref() == Some(key)
    {
        accept_new_key(r);
    }
    let k = r.key();
    let res = with_state(|state| {
        let store = state.store.as_ref()?;
        Some(
            store
                .record_key_seen(&k.protocol, &k.account, &k.peer, key)
                .and_then(|()| {
                    store.set_trust(&k.protocol, &k.account, &k.peer, key, Trust::Verified)
                }),
        )
    })
    .flatten();
    match res {
        Some(Ok(())) => r.system_line(&format!(
            "you compared fingerprints: {}'s key {} is now verified.",
            r.peer,
            key.fingerprint()
        )),
        Some(Err(e)) => {
            glue::debug_error(&format!("marking a key verified: {e}"));
            r.system_line("the key could not be marked verified (storage problem).");
        }
        None => r.system_line("the key could not be marked verified (no key store)."),
    }
}

/// The question-and-answer form.
fn ask(r: &ConvRef) {
    if engine::conv_state(r) != Some(ConvState::Encrypted) {
        r.system_line("a question can only be asked in an encrypted conversation (/sotto start).");
        return;
    }
    let Some(data) = park(Pending::Ask(r.clone())) else {
        return;
    };
    let peer = plain(&r.peer);
    let (title, primary, secondary) = (
        glue::cstring("Sotto: ask a question"),
        glue::cstring(&format!("Ask {peer} a question only they can answer")),
        glue::cstring(&format!(
            "{peer} sees the question and types the answer. Sotto compares the two answers \
             without sending either: a wrong answer reveals nothing but \"no match\". Choose \
             something an eavesdropper cannot guess or look up."
        )),
    );
    let (q_label, a_label) = (
        glue::cstring("Question"),
        glue::cstring("The answer you expect"),
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
            super::ffi::plugin_handle(),
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
        let Some(Pending::Ask(r)) = take(data) else {
            return;
        };
        // SAFETY: the fields of this callback.
        let (q, a) = unsafe {
            (
                field_string(fields, c"question"),
                field_string(fields, c"answer"),
            )
        };
        ask_question(&r, q.trim(), a.trim());
    })
}

/// Any dialog closed without a decision: forget what it was about.
unsafe extern "C" fn dismissed(data: *mut c_void, _fields: *mut c_void) {
    ffi_boundary!((), {
        non_null!(data);
        drop(take(data));
    })
}

/// Ask `question`, expecting `answer` (from the form or `/sotto verify Q | A`).
pub(crate) fn ask_question(r: &ConvRef, question: &str, answer: &str) {
    if question.is_empty() || answer.is_empty() {
        r.system_line("a verification needs both a question and the answer you expect.");
        return;
    }
    if let Some(fx) = engine::user_action(r, |conv, rng| conv.ask_question(question, answer, rng)) {
        engine::apply(fx);
        r.system_line(&format!(
            "asked {}: \"{question}\". Waiting for their answer.",
            r.peer
        ));
    }
}

/// The contact asked `question` (`Event::VerificationQuestion`): an input dialog for the answer.
pub(crate) fn answer(r: &ConvRef, question: &str) {
    let Some(data) = park(Pending::Answer(r.clone())) else {
        return;
    };
    let peer = plain(&r.peer);
    let (title, primary, secondary) = (
        glue::cstring("Sotto: a question from your contact"),
        glue::cstring(&format!("{peer} asks: {}", plain(question))),
        glue::cstring(&format!(
            "{peer} wants to make sure it is really you. Type the answer; Sotto checks it against \
             theirs inside this encrypted conversation without sending it. Both of you see \
             whether the answers matched. Decline if you did not expect this question."
        )),
    );
    let who = glue::cstring(&r.peer);
    // SAFETY: strings valid for the call (copied by libpurple); both callbacks have
    // PurpleRequestInputCb's (user_data, text) signature.
    unsafe {
        sys::purple_request_input(
            super::ffi::plugin_handle(),
            title.as_ptr(),
            primary.as_ptr(),
            secondary.as_ptr(),
            c"".as_ptr(),
            0,
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

/// Whether the contact's question still waits for an answer (it may have been answered with
/// `/sotto answer`, or aborted, while the dialog was open).
fn question_pending(r: &ConvRef) -> bool {
    let key = r.key();
    with_state(|state| {
        state
            .sessions
            .get(&key)
            .is_some_and(|s| s.conv.pending_question().is_some())
    })
    .unwrap_or(false)
}

unsafe extern "C" fn answer_ok(data: *mut c_void, text: *const c_char) {
    ffi_boundary!((), {
        non_null!(data);
        let Some(Pending::Answer(r)) = take(data) else {
            return;
        };
        let answer = cstr_to_string(text).unwrap_or_default();
        if !question_pending(&r) {
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
        if let Some(Pending::Answer(r)) = take(data) {
            if question_pending(&r) {
                decline(&r);
            }
        }
    })
}

/// Our answer to the contact's question (from the dialog or `/sotto answer`).
pub(crate) fn answer_question(r: &ConvRef, answer: &str) {
    if let Some(fx) = engine::user_action(r, |conv, rng| conv.answer_question(answer, rng)) {
        engine::apply(fx);
    }
}

fn decline(r: &ConvRef) {
    if let Some(fx) = engine::user_action(r, |conv, rng| conv.abort_verification(rng)) {
        engine::apply(fx);
    }
}

/// The contact's key changed (`Event::PeerKeyChanged`): explain, and offer to accept it.
pub(crate) fn key_changed(r: &ConvRef, fingerprint: &str) {
    let peer = plain(&r.peer);
    action_dialog(
        Some(r),
        "Sotto: key changed",
        &format!("{peer}'s encryption key has changed"),
        &format!(
            "The key {peer} uses for Sotto is not the one you accepted before.\n\
             New fingerprint: {fingerprint}\n\n\
             Usually this means {peer} reinstalled, uses a new computer or lost their Sotto \
             data. It can also mean that someone is intercepting the conversation and \
             pretending to be {peer}.\n\n\
             Until you decide, what you type to {peer} is held, not sent. Ask {peer} over \
             another channel (in person, by phone) whether their key changed, and compare the \
             fingerprint. Accepting does not mark the new key verified."
        ),
        1,
        &[c"Accept the new key", c"Keep holding messages"],
        Pending::KeyChanged(r.clone()),
    );
}

/// The user accepts the contact's changed key (the dialog, or `/sotto accept`).
pub(crate) fn accept_new_key(r: &ConvRef) {
    if let Some(fx) = engine::accept_key(r) {
        engine::apply(fx);
        r.system_line(&format!("{}'s current key is accepted.", r.peer));
    }
}

/// Every recorded key, with the label the Known fingerprints view shows for it.
fn known_keys() -> Vec<(String, TrustRecord)> {
    let records = with_state(|state| {
        state
            .store
            .as_ref()
            .map(|s| s.all_trust_records().unwrap_or_default())
    })
    .flatten()
    .unwrap_or_default();
    records.into_iter().map(|t| (key_label(&t), t)).collect()
}

/// One line of the view: contact, fingerprint, trust, last seen, account.
fn key_label(t: &TrustRecord) -> String {
    let (protocol, account) = t.protocol_and_account().unwrap_or(("?", &t.account));
    format!(
        "{} - {} - {} - last seen {} - {} ({})",
        plain(&t.peer),
        t.fingerprint,
        match t.trust {
            Trust::Verified => "verified",
            Trust::Unverified => "unverified",
        },
        utc_time(t.last_seen),
        plain(account),
        protocol
    )
}

/// `/sotto fingerprints`: every recorded key, as text.
pub(crate) fn known_fingerprints_text() -> String {
    let keys = known_keys();
    if keys.is_empty() {
        return "no contact keys recorded yet.".to_owned();
    }
    let lines: Vec<String> = keys.into_iter().map(|(label, _)| label).collect();
    format!("known fingerprints:\n{}", lines.join("\n"))
}

/// Actions of the Known fingerprints view (index = choice value).
const KNOWN_ACTIONS: [&CStr; 3] = [c"Mark verified", c"Mark unverified", c"Forget this key"];

/// The Known fingerprints view: pick a key, then verify, unverify or forget it.
pub(crate) fn known_fingerprints(r: Option<&ConvRef>) {
    let keys = known_keys();
    if keys.is_empty() {
        // SAFETY: valid strings; no callback.
        unsafe {
            sys::purple_notify_message(
                super::ffi::plugin_handle(),
                sys::PURPLE_NOTIFY_MSG_INFO,
                c"Sotto".as_ptr(),
                c"Known fingerprints".as_ptr(),
                c"No contact keys recorded yet: they are recorded when an encrypted conversation starts.".as_ptr(),
                None,
                std::ptr::null_mut(),
            );
        }
        return;
    }
    let labels: Vec<_> = keys.iter().map(|(l, _)| glue::cstring(l)).collect();
    let Some(data) = park(Pending::Known(keys)) else {
        return;
    };
    let who = r.map(|r| glue::cstring(&r.peer));
    let (account, conv) = r.map_or((std::ptr::null_mut(), std::ptr::null_mut()), |r| {
        (r.account(), r.conversation())
    });
    // SAFETY: strings valid for the calls (copied by libpurple); the fields object is handed to
    // purple_request_fields, which owns it; the callbacks have PurpleRequestFieldsCb's signature.
    unsafe {
        let fields = sys::purple_request_fields_new();
        let group = sys::purple_request_field_group_new(std::ptr::null());
        sys::purple_request_fields_add_group(fields, group);
        let list = sys::purple_request_field_list_new(c"key".as_ptr(), c"Keys".as_ptr());
        for (i, label) in labels.iter().enumerate() {
            // libpurple refuses an item without data; ours is its position (never read back).
            sys::purple_request_field_list_add_icon(
                list,
                label.as_ptr(),
                std::ptr::null(),
                (i + 1) as *mut c_void,
            );
        }
        sys::purple_request_field_set_required(list, 1);
        sys::purple_request_field_group_add_field(group, list);
        let action = sys::purple_request_field_choice_new(c"action".as_ptr(), c"Do".as_ptr(), 0);
        for a in KNOWN_ACTIONS {
            sys::purple_request_field_choice_add(action, a.as_ptr());
        }
        sys::purple_request_field_group_add_field(group, action);
        sys::purple_request_fields(
            super::ffi::plugin_handle(),
            c"Sotto: known fingerprints".as_ptr(),
            c"Known fingerprints".as_ptr(),
            c"Every contact key Sotto has recorded, per account. Select a key to mark it \
               verified (only after comparing fingerprints with the contact over another \
               channel), unverified, or to forget it (the next conversation then accepts the \
               contact's key as new)."
                .as_ptr(),
            fields,
            c"Apply".as_ptr(),
            glue::callback(known_ok as *const c_void),
            c"Close".as_ptr(),
            glue::callback(dismissed as *const c_void),
            account,
            who.as_ref().map_or(std::ptr::null(), |w| w.as_ptr()),
            conv,
            data,
        );
    }
}

unsafe extern "C" fn known_ok(data: *mut c_void, fields: *mut sys::PurpleRequestFields) {
    ffi_boundary!((), {
        non_null!(data);
        non_null!(fields);
        let Some(Pending::Known(keys)) = take(data) else {
            return;
        };
        let mut selected = Vec::new();
        // SAFETY: the fields of this callback; the list and its strings belong to the field and
        // are copied at once.
        let choice = unsafe {
            let field = sys::purple_request_fields_get_field(fields, c"key".as_ptr());
            if !field.is_null() {
                let mut l = sys::purple_request_field_list_get_selected(field);
                while !l.is_null() {
                    if let Some(s) = cstr_to_string((*l).data.cast::<c_char>()) {
                        selected.push(s);
                    }
                    l = (*l).next;
                }
            }
            sys::purple_request_fields_get_choice(fields, c"action".as_ptr())
        };
        for (label, record) in keys {
            if selected.contains(&label) {
                apply_known(&record, choice);
            }
        }
    })
}

/// Verify (0), unverify (1) or forget (2) one recorded key; the contact's window, if open,
/// says so, and a loaded session learns the keys that remain.
fn apply_known(t: &TrustRecord, choice: c_int) {
    let Some((protocol, account)) = t.protocol_and_account() else {
        return;
    };
    let (protocol, account) = (protocol.to_owned(), account.to_owned());
    let key = ConvKey {
        protocol: protocol.clone(),
        account: account.clone(),
        peer: t.peer.clone(),
    };
    let done = with_state(|state| {
        let store = state.store.as_ref()?;
        let res = match choice {
            0 => store.set_trust(&protocol, &account, &t.peer, &t.key, Trust::Verified),
            1 => store.set_trust(&protocol, &account, &t.peer, &t.key, Trust::Unverified),
            _ => store.forget_key(&protocol, &account, &t.peer, &t.key),
        };
        if let Err(e) = res {
            glue::debug_error(&format!("changing a recorded key: {e}"));
            return Some(false);
        }
        if choice >= 2 {
            // The core keeps accepted keys oldest first; the store lists newest first.
            let mut remaining: Vec<_> = store
                .trust_records(&protocol, &account, &t.peer)
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.key)
                .collect();
            remaining.reverse();
            if let Some(s) = state.sessions.get_mut(&key) {
                s.conv.set_known_peer_keys(remaining);
            }
        }
        Some(true)
    })
    .flatten()
    .unwrap_or(false);
    let r = ConvRef {
        protocol,
        account,
        peer: t.peer.clone(),
    };
    let what = match (done, choice) {
        (false, _) => "could not be changed (storage problem)",
        (true, 0) => "is now marked verified",
        (true, 1) => "is now marked unverified",
        (true, _) => "is forgotten",
    };
    r.system_line(&format!("{}'s key {} {what}.", t.peer, t.fingerprint));
}

/// `secs` since the epoch as `YYYY-MM-DD HH:MM UTC`.
fn utc_time(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3_600,
        rem % 3_600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_time_formats_known_instants() {
        assert_eq!(utc_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_time(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_time(-86_400), "1969-12-31 00:00 UTC");
    }

    #[test]
    fn plain_removes_control_characters_and_bounds_length() {
        assert_eq!(plain("a\nb\u{1b}[31mc"), "a b [31mc");
        assert_eq!(plain("<b>kept as text</b>"), "<b>kept as text</b>");
        let long = "x".repeat(1_000);
        assert_eq!(plain(&long).chars().count(), MAX_SHOWN + 1);
    }
}
