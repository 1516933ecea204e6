//! The Known fingerprints view (Tools > Sotto, `/sotto fingerprints`): every contact key Sotto
//! has recorded, per account, to mark verified, unverified, or forget.

use std::ffi::{c_char, c_void, CStr};

use crate::sessions::trust::{Change, Changed, RecordChange};
use crate::store::TrustRecord;

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::dialogs::{dismissed, park, plain, take};
use super::glue::{self, cstr_to_string, ConvRef};
use super::service;
use super::state::{plugin_handle, Pending};
use super::texts::{self, Shown};

/// Every recorded key, with the label the Known fingerprints view shows for it.
/// Every recorded key with its label, and how many records are damaged (not listed). `Err`:
/// why none could be read (never shown as "no keys recorded").
fn known_keys() -> Result<(Vec<(String, TrustRecord)>, usize), String> {
    let (records, damaged) = service::all_trust_records()?;
    let keys = records.into_iter().map(|t| (key_label(&t), t)).collect();
    Ok((keys, damaged))
}

/// One line of the view: contact, fingerprint, trust, last seen, account.
fn key_label(t: &TrustRecord) -> String {
    let (protocol, account) = t.protocol_and_account().unwrap_or(("?", &t.account));
    texts::known_key_label(
        &Shown::new(&t.peer),
        &t.fingerprint.to_string(),
        t.trust,
        &utc_time(t.last_seen),
        &plain(account),
        protocol,
    )
}

/// `/sotto fingerprints`: every recorded key, as text.
pub(crate) fn known_fingerprints_text() -> String {
    let (keys, damaged) = match known_keys() {
        Ok(known) => known,
        Err(why) => return texts::known_keys_unreadable(&why),
    };
    let mut text = if keys.is_empty() {
        texts::no_known_keys().to_owned()
    } else {
        let lines: Vec<String> = keys.into_iter().map(|(label, _)| label).collect();
        texts::known_keys(&lines)
    };
    if damaged > 0 {
        text.push('\n');
        text.push_str(&texts::known_keys_damaged(damaged));
    }
    text
}

/// Actions of the Known fingerprints view, the least trusting first: a UI that picks one
/// unasked (Finch picks the first) changes nothing for an unverified key.
///
/// A list, read back by label, not a choice field: a choice's value is the index in Pidgin but
/// the index plus one in Finch (`gntrequest.c` numbers its items from 1, and reads 0 when none
/// is picked), so one number meant "verify" or "unverify" depending on the UI, and "unverify"
/// in Finch forgot the key.
const KNOWN_ACTIONS: [(&CStr, Change); 3] = [
    (c"Mark unverified", Change::Unverify),
    (c"Mark verified", Change::Verify),
    (c"Forget this key", Change::Forget),
];

/// The Known fingerprints view: pick a key, then verify, unverify or forget it.
pub(crate) fn known_fingerprints(r: Option<&ConvRef>) {
    let (keys, damaged) = match known_keys() {
        Ok(known) => known,
        Err(why) => {
            notify(&texts::known_keys_unreadable(&why));
            return;
        }
    };
    if keys.is_empty() {
        if damaged > 0 {
            notify(&texts::known_keys_damaged(damaged));
        } else {
            notify(texts::no_known_keys_notice());
        }
        return;
    }
    let labels: Vec<_> = keys.iter().map(|(l, _)| glue::cstring(l)).collect();
    let text = texts::known_keys_dialog(damaged);
    let (title, primary, secondary) = (
        glue::cstring(&text.title),
        glue::cstring(&text.primary),
        glue::cstring(&text.secondary),
    );
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
        let labels = KNOWN_ACTIONS.iter().map(|(label, _)| *label);
        let action = picked_list(c"action", c"Do", labels, KNOWN_ACTIONS[0].0);
        sys::purple_request_field_group_add_field(group, action);
        sys::purple_request_fields(
            plugin_handle(),
            title.as_ptr(),
            primary.as_ptr(),
            secondary.as_ptr(),
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
        // SAFETY: the fields of this callback.
        let (selected, action) = unsafe { (selected(fields, c"key"), selected(fields, c"action")) };
        // No key or no action picked (libpurple does not enforce a required list): nothing is
        // done, and the user is told why.
        let change = KNOWN_ACTIONS
            .iter()
            .find(|(label, _)| action.iter().any(|a| a.as_bytes() == label.to_bytes()))
            .map(|&(_, change)| change);
        let Some(change) = change.filter(|_| keys.iter().any(|(l, _)| selected.contains(l))) else {
            notify(texts::known_nothing_chosen());
            return;
        };
        for (label, record) in keys {
            if selected.contains(&label) {
                apply_known(&record, change);
            }
        }
    })
}

/// A required list field `id` titled `title` with the items `labels`, `selected` picked: the
/// one-of-several field both UIs number alike (read back by label with [`selected`]; a
/// choice field's number differs between Pidgin and Finch).
///
/// # Safety
/// Strings are copied by libpurple; the field is the caller's to add to a group.
pub(crate) unsafe fn picked_list<'a>(
    id: &CStr,
    title: &CStr,
    labels: impl Iterator<Item = &'a CStr>,
    selected: &CStr,
) -> *mut sys::PurpleRequestField {
    // SAFETY: per the caller; every string valid for its call.
    unsafe {
        let list = sys::purple_request_field_list_new(id.as_ptr(), title.as_ptr());
        for (i, label) in labels.enumerate() {
            // libpurple refuses an item without data; ours is its position (never read back).
            sys::purple_request_field_list_add_icon(
                list,
                label.as_ptr(),
                std::ptr::null(),
                (i + 1) as *mut c_void,
            );
        }
        sys::purple_request_field_list_add_selected(list, selected.as_ptr());
        sys::purple_request_field_set_required(list, 1);
        list
    }
}

/// An information box titled Known fingerprints.
fn notify(text: &str) {
    glue::notify(plugin_handle(), false, "Known fingerprints", text);
}

/// The labels selected in the list field `id` of `fields`, copied.
///
/// # Safety
/// `fields` must be the live fields of a request callback.
pub(crate) unsafe fn selected(fields: *mut sys::PurpleRequestFields, id: &CStr) -> Vec<String> {
    let mut out = Vec::new();
    // SAFETY: per the caller; the list and its strings belong to the field and are copied at
    // once.
    unsafe {
        let field = sys::purple_request_fields_get_field(fields, id.as_ptr());
        if !field.is_null() {
            let mut l = sys::purple_request_field_list_get_selected(field);
            while !l.is_null() {
                out.extend(cstr_to_string((*l).data.cast::<c_char>()));
                l = (*l).next;
            }
        }
    }
    out
}

/// Verify, unverify or forget one recorded key; the contact's window, if open, says so (and
/// that its messages are held, when its session used the key forgotten), and a loaded session
/// learns the keys that remain.
fn apply_known(t: &TrustRecord, change: Change) {
    let Some((protocol, account)) = t.protocol_and_account() else {
        return;
    };
    let RecordChange { done, also } = service::change_record(t, change);
    let r = ConvRef {
        protocol: protocol.to_owned(),
        account: account.to_owned(),
        peer: t.peer.clone(),
    };
    let peer = Shown::new(&t.peer);
    let fingerprint = t.fingerprint.to_string();
    let line = texts::record_changed(&peer, &fingerprint, done, change);
    // Said also with no window open (the list is usually used with none): the user must not
    // believe a key forgotten, or verified, that is not, nor wonder whether one was.
    // What it did is said too (the held lines below matter most: what the user types to the
    // contact is held from now on), under this name and under the other names that held the
    // key.
    // One line (one box with no window open), what follows included.
    let names: Vec<String> = also.iter().map(|(name, _)| name.clone()).collect();
    let mut said = vec![line];
    if !matches!(done, Changed::Failed | Changed::Gone) {
        said.extend(texts::record_changed_also(&names, change));
    }
    said.extend(held_after(&peer, &fingerprint, done));
    for (name, changed) in &also {
        said.extend(held_after(&Shown::new(name), &fingerprint, *changed));
    }
    let line = said.join(" ");
    if matches!(done, Changed::Failed | Changed::Gone) {
        r.failure_line(&line);
    } else {
        r.outcome_line(&line);
    }
    if done == Changed::Held {
        super::present::redecorate(&r);
    }
    for (name, changed) in also {
        let other = ConvRef {
            peer: name,
            ..r.clone()
        };
        if changed == Changed::Held {
            super::present::redecorate(&other);
        }
        // Its own window, if open, says what became of its key too.
        let shown = Shown::new(&other.peer);
        let mut said = vec![texts::record_changed(&shown, &fingerprint, changed, change)];
        said.extend(held_after(&shown, &fingerprint, changed));
        other.system_line(&said.join(" "));
    }
}

/// What a forgotten key held for `peer` (`done`): a sentence, or `None` when nothing was held.
fn held_after(peer: &Shown, fingerprint: &str, done: Changed) -> Option<String> {
    match done {
        Changed::Held => Some(texts::held_after_forget(peer, fingerprint)),
        Changed::HeldOther => Some(texts::other_held_after_forget(peer, fingerprint)),
        Changed::Failed | Changed::Gone | Changed::Done => None,
    }
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
}
