//! The sessions service ([`crate::sessions`]) as libpurple callbacks reach it: each function turns
//! a [`ConvRef`] into the service's key and settings (normalized names, the contact's policy, the
//! protocol's line size), calls the service with the state borrowed, writes the service's debug
//! lines, and returns what to do. Acting on the result is the presenter's job (`present::apply`),
//! after the borrow is released.

use rand_core::OsRng;

use crate::protocol::{
    ConvState, Conversation, HandedBack, IdentityPublic, ReceiveAction, ReceiveOutcome,
    SecretString,
};
use crate::sessions::nosuchnick::irc_fold;
use crate::sessions::siblings::{SiblingState, Verdict};
use crate::sessions::trust::AcceptError;
use crate::sessions::trust::{Change, Changed, RecordChange};
use crate::sessions::{ConvRef, Effects, Notice, Outgoing, Sessions, Settings};
use crate::store::{Trust, TrustRecord};

use super::bindings as sys;
use super::fragsize;
use super::glue::{self, prefs, ConvKey};
use super::state::{with_state, State, Tag};
use super::texts;
use super::windows;

/// The contact's settings: its policy (override, else global) and the line size on its
/// protocol (which depends on both nicks on IRC).
pub(crate) fn settings(r: &ConvRef) -> Settings {
    Settings {
        policy: policy(r),
        max_line: line_size(r),
        names: r.names(),
        now_secs: now_secs(),
        addressable: addressable(r),
        in_order: in_order(r),
    }
}

/// The line size on `r`'s protocol (which depends on both nicks on IRC), under the cap it
/// earned by refusing a line as too large, if it did.
fn line_size(r: &ConvRef) -> usize {
    let size = fragsize::for_protocol(
        &r.protocol,
        r.own_display_name().as_deref(),
        &r.peer,
        prefs::int(prefs::FRAGMENT_SIZE_DEFAULT),
        |option| glue::account_bool(r, option),
    );
    with_state(|s| s.line_caps.apply(&r.protocol, size)).unwrap_or(size)
}

/// Whether `r`'s protocol delivers one sender's lines in the order they were sent, every line
/// of a session from one client: IRC (one TCP stream, relayed in order; libpurple's rate
/// limiter queues in order) and XMPP (RFC 6120 §10.1; each of the contact's clients has a
/// session of its own). Not SMS, SIP over UDP or protocols Sotto knows nothing of.
fn in_order(r: &ConvRef) -> bool {
    matches!(r.protocol.as_str(), "prpl-irc" | "prpl-jabber")
}

/// Whether one client of `r`'s contact has a name of its own: only on XMPP (a full JID).
pub(crate) fn addressable(r: &ConvRef) -> bool {
    r.protocol == "prpl-jabber"
}

/// Seconds since the epoch (0 if the clock is before it).
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The contact's policy: the one the user chose for it (Sotto's record, else its buddy's
/// setting, which an older Sotto wrote), else one its window carried over from the buddy it
/// was opened for (the contact was renamed since), else the global preference.
///
/// Sotto's record outlives the buddy: on XMPP the server removes a roster entry, or moves it
/// to another group (libpurple then replaces the buddy, settings lost), and an "Always" kept
/// only on the buddy fell back to the global policy with the window open, plaintext next.
///
/// A window that carried "always" (never unencrypted) over a rename keeps it even where the new
/// name has a weaker setting of its own ([`follow`]), until the user chooses one for that name.
pub(crate) fn policy(r: &ConvRef) -> crate::protocol::Policy {
    let carried = windows::carried_policy(r);
    if carried == Some(crate::protocol::Policy::Always) {
        return crate::protocol::Policy::Always;
    }
    contact_policy(r)
        .or(carried)
        .unwrap_or_else(glue::global_policy)
}

/// The policy the user chose for `r`'s contact, if any. A buddy setting Sotto's record lacks
/// (written by an older Sotto) is copied into it, once.
pub(crate) fn contact_policy(r: &ConvRef) -> Option<crate::protocol::Policy> {
    let key = r.key();
    if let Some(Some(cached)) = with_state(|s| s.policies.get(&key).copied()) {
        return cached;
    }
    let (policy, read) = read_contact_policy(r);
    // Only what the store answered is kept: a failed read is tried again at the next message
    // (kept, it would have stood for the rest of the run, the buddy's or no policy in place of
    // the store's). Bounded: a flood of names empties it.
    if read {
        let _ = with_state(|s| {
            if s.policies.len() >= POLICIES_CACHED {
                s.policies.clear();
            }
            s.policies.insert(key, policy)
        });
    }
    policy
}

/// Whether the store can say what `r`'s contact's policy is now (the settings dialog, which
/// shows it as its choice, must not offer to overwrite one it could not read).
pub(crate) fn contact_policy_readable(r: &ConvRef) -> bool {
    read_contact_policy(r).1
}

/// Most contacts' policies kept in memory ([`contact_policy`]).
const POLICIES_CACHED: usize = 1024;

/// [`contact_policy`] from the store (and the buddy), and whether the store answered.
fn read_contact_policy(r: &ConvRef) -> (Option<crate::protocol::Policy>, bool) {
    let key = r.key();
    let stored = with_sessions(|s| {
        s.store()
            .map(|st| st.contact_policy(&key.protocol, &key.account, &key.peer))
    })
    .flatten();
    let read = matches!(stored, Some(Ok(_)));
    if let Some(Ok(Some(p))) = &stored {
        // A value this version does not know (a newer Sotto's, a hand edit): the strictest,
        // never a weaker one than the user may have set. The settings dialog shows it so, and
        // saving replaces it.
        let p = crate::protocol::Policy::parse(p).unwrap_or(crate::protocol::Policy::Always);
        return (Some(p), read);
    }
    let buddy = windows::buddy_policy(r);
    if let (Some(p), Some(Ok(None))) = (buddy, &stored) {
        let _ = with_sessions(|s| {
            s.store().map(|st| {
                st.set_contact_policy(&key.protocol, &key.account, &key.peer, Some(p.as_str()))
            })
        });
    }
    (buddy, read)
}

/// Records the policy the user chose for `r`'s contact (`None`: the global one), in Sotto's
/// store and, best effort, on its buddy (an older Sotto reads it there). Whether it was saved.
pub(crate) fn set_contact_policy(r: &ConvRef, policy: Option<crate::protocol::Policy>) -> bool {
    let key = r.key();
    let saved = with_sessions(|s| {
        s.store().map(|st| {
            st.set_contact_policy(
                &key.protocol,
                &key.account,
                &key.peer,
                policy.map(crate::protocol::Policy::as_str),
            )
        })
    })
    .flatten();
    if !matches!(saved, Some(Ok(()))) {
        return false;
    }
    let _ = with_state(|s| s.policies.insert(key, policy));
    // A policy of its own is the user's word on the contact: not a stranger's any more.
    if policy.is_some() {
        user_acted(r);
    }
    windows::drop_carried_policy(r);
    let _ = glue::set_buddy_setting(
        r,
        glue::BUDDY_POLICY,
        policy.map(crate::protocol::Policy::as_str),
    );
    true
}

/// Run `f` on the service with the state borrowed; the service's debug lines are written after.
fn with_sessions<T>(f: impl FnOnce(&mut Sessions) -> T) -> Option<T> {
    let (out, log) = with_state(|state: &mut State| {
        let out = f(&mut state.sessions);
        (out, state.sessions.take_log())
    })?;
    for line in log {
        glue::debug_error(&line);
    }
    Some(out)
}

/// The user wrote in `r`'s conversation, or started it, or asked or answered a question there
/// (an auto-reply is not the user; stopping, declining or forgetting a key keep nothing): it
/// is not one a stranger began any more (`sessions::strangers`).
pub(crate) fn user_acted(r: &ConvRef) {
    let key = r.key();
    windows::users_now(&key);
    let _ = with_sessions(|s| s.user_acted(&key));
}

/// The user (or an auto-reply) sends `text` to `r`.
pub(crate) fn outgoing(r: &ConvRef, text: &str) -> Option<(Outgoing, Effects)> {
    // Only IRC and SILC have twins; the check is skipped elsewhere (no extra lookup per
    // message).
    let open = || (r.protocol == IRC || r.protocol == SILC) && allowed_here(r);
    if let Some(twin) = open().then(|| nick_twin(r)).flatten() {
        let fx = Effects {
            notices: vec![Notice::SameIrcNick {
                twin,
                unsent: text.trim().to_owned(),
            }],
            reply_to: r.peer.clone(),
            ..Effects::default()
        };
        return Some((Outgoing::Hold, fx));
    }
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.outgoing(&key, &r.peer, text, &settings, &mut OsRng)).flatten()
}

/// libpurple's IRC protocol id.
const IRC: &str = "prpl-irc";

/// libpurple's SILC protocol id.
const SILC: &str = "prpl-silc";

/// A SILC nick as its servers match it (stringprep's SILC identifier profile: invisible
/// characters dropped, case folded, compatibility forms; `@server` aside): libpurple's SILC
/// protocol normalizes nothing, so `Bob`, `bob` and `ｂｏｂ` are three conversations to it and
/// one person to the server.
pub(crate) fn silc_fold(name: &str) -> String {
    let nick = name.split('@').next().unwrap_or(name);
    let visible: String = nick
        .chars()
        .filter(|c| !crate::protocol::wire::is_invisible(*c))
        .collect();
    crate::protocol::verify::normalize_answer(&visible).to_string()
}

/// On IRC and SILC, for a conversation `r` that would let plaintext out ([`allowed_here`]: the
/// caller asks first): another one of the account, with the same nick as the server matches
/// nicks (IRC: RFC 1459's case mapping, `bob[1]` and `bob{1}`; SILC: [`silc_fold`]) but spelled
/// otherwise, that keeps plaintext out (encrypted, held, a
/// name an encrypted conversation moved away from): the server delivers to that contact, so
/// nothing goes in plaintext here. Its name. When the store cannot list the account's
/// conversations, `r`'s own name: nothing goes either.
fn nick_twin(r: &ConvRef) -> Option<String> {
    match r.protocol.as_str() {
        IRC | SILC => twin_by(r, |name| twin_spellings(&r.protocol, name)),
        _ => None,
    }
}

/// Whether `c` may begin an IRC nick (RFC 2812: a letter or one of `[ ] \ ` _ ^ { | }`; many
/// servers take other letters too). libpurple's IRC protocol skips the server's channel-mode
/// prefixes in a window's name before it sends (`irc_nick_skip_mode`: `@+%&` by default, or the
/// server's `PREFIX` symbols, which may be `~`, `!`, ...): every leading ASCII symbol that cannot
/// begin a nick is taken for one.
fn irc_nick_start(c: char) -> bool {
    !c.is_ascii_punctuation() || "[]\\`_^{|}".contains(c)
}

/// The nicks a line sent under the IRC name `name` reaches (a window's name, a `/msg` target):
/// channel-mode prefixes skipped (`@bob` is sent to `bob`), each of a comma list (`bob,carol`),
/// each cut to its nick (RFC 2812's `msgto`: `bob!user@host`, `bob@server`, `bob%host`).
/// libpurple writes the name as it is, spaces too (a name pasted with one: `PRIVMSG bob  :…`),
/// and a server reads the targets from the first word after the command (RFC 1459: spaces
/// between words are one or more): spaces before it are skipped (with the prefixes, in any
/// order: `@ bob` is sent as `PRIVMSG  bob`), what follows the first space after it is no
/// target. A window named `bob ` reached bob with no twin found (found by a hostile review).
///
/// A target that begins with `#` is a channel (RFC 2812's `#channel`; neither libpurple's
/// window send nor its `/msg` takes `#` off): it reaches no nick. Read as a prefix, `/msg
/// #linux hi` was taken for a line to the nick `linux` and refused whenever that nick's
/// conversation kept plaintext out, under `always` always (found by a read-only review).
/// The other channel types (`&`, `+`, `!`) are also status prefixes libpurple takes off a
/// window's name: still read as prefixes (a nick too many is refused, never one too few).
pub(crate) fn irc_reached(name: &str) -> Vec<&str> {
    let targets = name.trim_start_matches(' ').split(' ').next().unwrap_or("");
    let targets = if irc_is_channel(targets) {
        targets
    } else {
        name.trim_start_matches(|c| c == ' ' || !irc_nick_start(c))
            .split(' ')
            .next()
            .unwrap_or("")
    };
    targets
        .split(',')
        .filter(|t| !irc_is_channel(t))
        .filter_map(|t| {
            let t = t.trim_start_matches(|c| !irc_nick_start(c));
            t.split(['!', '@', '%']).next().filter(|n| !n.is_empty())
        })
        .collect()
}

/// Whether the IRC target `t` (one of a comma list) is a `#` channel: see [`irc_reached`].
pub(crate) fn irc_is_channel(t: &str) -> bool {
    t.starts_with('#')
}

/// Whether the IRC target `t` of `account` is a `#` channel under whose name Sotto keeps
/// nothing: no conversation saved or loaded, no name one moved away from, no policy of its
/// own, no record that it runs Sotto, no key recorded, no buddy, no open IM window. Such a
/// target is a room, which a line goes to as typed. A name Sotto does know is no room to it,
/// whatever it looks like: a server can rename a contact's window to `#bob` (libpurple
/// follows any `NICK`), and the encrypted conversation moves with it; a `/msg #bob` then went
/// to the server in plaintext (found by the hostile review of the first version). When the
/// store cannot say, not one (the usual checks run).
///
/// # Safety
/// `account` must be a live account.
pub(crate) unsafe fn irc_channel_unknown(account: *mut sys::PurpleAccount, t: &str) -> bool {
    if !irc_is_channel(t) {
        return false;
    }
    // SAFETY: per the caller.
    let Some(r) = (unsafe { ConvRef::from_account(account, t) }) else {
        return false;
    };
    let key = r.key();
    // Also a name only the peer table or the trust table knows (a contact renamed there
    // before anything was saved under it: the conversation that followed it leaves memory
    // at the sweep), and one with an open window (found by the hostile review of the second
    // version). When the store cannot say: known.
    let (p, a, peer) = (&key.protocol, &key.account, &key.peer);
    let known = with_sessions(|s| {
        let listed = s.known_peers(&key)?.contains(peer);
        let store = s.store();
        let recorded = match store {
            Some(st) => {
                st.peer_runs_sotto(p, a, peer).ok()?
                    || !st.trust_records(p, a, peer).ok()?.is_empty()
            }
            None => false,
        };
        Some(listed || recorded)
    })
    .flatten()
    .unwrap_or(true);
    !known && r.conversation().is_null() && glue::find_buddy_keyed(&r, || key.clone()).is_null()
}

/// Another conversation of `r`'s account, saved or loaded, whose name `fold` makes the same as
/// `r`'s but is spelled otherwise, and that keeps plaintext out: its name. When the store
/// cannot list the account's conversations, `r`'s own name (nothing goes in plaintext).
pub(crate) fn folded_twin(r: &ConvRef, fold: fn(&str) -> String) -> Option<String> {
    twin_by(r, |name| vec![fold(name)])
}

/// Another conversation of `r`'s account, named otherwise, that reaches one of the people
/// `reach` says `r`'s name reaches, and that keeps plaintext out: its name (`r`'s own when the
/// store cannot list the account's conversations).
fn twin_by(r: &ConvRef, reach: impl Fn(&str) -> Vec<String>) -> Option<String> {
    let key = r.key();
    let reached = reach(&key.peer);
    let Some(mut peers) = with_sessions(|s| s.known_peers(&key)).flatten() else {
        return Some(r.peer.clone());
    };
    // And the account's buddies: a policy set on a buddy (by an older Sotto, or carried by a
    // window) is found where its name is looked at.
    peers.extend(
        glue::buddy_names(r.account())
            .iter()
            .map(|name| r.with_peer(name.as_str()).key().peer),
    );
    peers.sort();
    peers.dedup();
    peers
        .into_iter()
        .filter(|p| *p != key.peer && reach(p).iter().any(|n| reached.contains(n)))
        .find(|p| !allowed_here(&r.with_peer(p.as_str())))
}

/// A message arrived from `r` (text already stripped of markup).
pub(crate) fn incoming(r: &ConvRef, text: &str) -> Option<(ReceiveAction, Effects)> {
    let (key, settings) = (r.key(), settings(r));
    // A name in the buddy list, or with an open window the user did something in, is the
    // user's to know: never counted as a stranger (`sessions::strangers`). Not just any open
    // window: any line from any name opens one.
    let conv = r.conversation();
    // SAFETY: looked up just now: null or live.
    let familiar = (!conv.is_null() && unsafe { windows::user_acted_in(conv) })
        || !glue::find_buddy_keyed(r, || key.clone()).is_null();
    let (p, a, kept) = (&key.protocol, &key.account, strangers_kept());
    let (out, trim) = with_sessions(|s| {
        if familiar {
            s.familiar(&key);
        }
        let out = s.incoming(&key, &r.peer, text, &settings, &mut OsRng);
        (out, s.trim_due(p, a, now_secs(), kept))
    })
    .unwrap_or((None, false));
    // What strangers began is kept to the newest few, but never a conversation with a window
    // open (it may say "encrypted" and take the user's next line) or a buddy's, nor the one
    // this line is for: a handshake it completed opens its window only once this returns.
    // The names in use are read before the sessions are borrowed again: Sotto's window tags
    // live in the same state (`windows::known`).
    if trim {
        let shown = names_in_use(r);
        // A window whose name the server takes for the same person (IRC: `bob[1]` for
        // `bob{1}`, `@bob`, `bob,carol`; SILC: `Bob`) holds its line as the encrypted twin's:
        // it keeps that conversation, compared as `nick_twin` compares.
        let folded: std::collections::HashSet<String> = shown
            .iter()
            .flat_map(|n| twin_spellings(&r.protocol, n))
            .collect();
        let _ = with_sessions(|s| {
            s.trim_strangers(p, a, kept, |peer| {
                peer == key.peer
                    || shown.contains(peer)
                    || twin_spellings(&r.protocol, peer)
                        .iter()
                        .any(|f| folded.contains(f))
            });
        });
    }
    sync_soon();
    out
}

/// Before the plugin stops: every conversation saved with its exact sending index, so the
/// next start skips none (`Sessions::release_reservations`).
pub(crate) fn release_reservations() {
    let _ = with_sessions(Sessions::release_reservations);
}

/// A message read was saved without its fsync: sync once the main loop has read everything
/// that arrived with it (a backlog of 100 messages costs one fsync, not 100), unless a sync is
/// already due. The fsync itself runs on the store's worker thread, off the main loop.
fn sync_soon() {
    with_state(|state: &mut State| {
        if state.sync_due.is_none() && state.sessions.needs_sync() {
            state.sync_due = Some(sync_timer());
        }
    });
}

/// The sync [`sync_soon`] asks for: a 0 ms libpurple timeout, which runs after the callbacks
/// the main loop is dispatching now (the rest of a network read's messages). Removed when
/// dropped before it ran (plugin unload: the store's close syncs anyway).
fn sync_timer() -> Timeout {
    // SAFETY: `sync_tick` has GSourceFunc's signature; no data pointer.
    Timeout(unsafe { sys::purple_timeout_add(0, Some(sync_tick), std::ptr::null_mut()) })
}

unsafe extern "C" fn sync_tick(_data: sys::gpointer) -> sys::gboolean {
    super::boundary::ffi_boundary!(0, {
        let _ = with_state(|state: &mut State| {
            if let Some(due) = state.sync_due.take() {
                due.ran();
            }
        });
        let _ = with_sessions(Sessions::sync_in_background);
        0
    })
}

/// A user action on the conversation with `r` (start, stop, verify...).
pub(crate) fn act(
    r: &ConvRef,
    act: impl FnOnce(&mut Conversation, &mut OsRng) -> ReceiveOutcome,
) -> Option<Effects> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.act(&key, &r.peer, &settings, &mut OsRng, act)).flatten()
}

/// The user asked to start (`true`) or stop encryption with `r`.
pub(crate) fn start_or_stop(r: &ConvRef, start: bool) -> Option<Effects> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.start_or_stop(&key, &r.peer, &settings, start, &mut OsRng)).flatten()
}

/// The plugin unloads: `r`'s sessions end, and nothing else a stop decides
/// ([`Sessions::end_at_unload`]).
pub(crate) fn end_at_unload(r: &ConvRef) -> Option<Effects> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.end_at_unload(&key, &r.peer, &settings, &mut OsRng)).flatten()
}

/// The user accepts the contact's changed key `expected` (the one they were shown or named).
pub(crate) fn accept_key(
    r: &ConvRef,
    expected: &IdentityPublic,
) -> Option<Result<Effects, AcceptError>> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.accept_key(&key, &r.peer, &settings, expected, &mut OsRng)).flatten()
}

/// Why Sotto has no store, if it has none.
pub(crate) fn unavailable() -> Option<String> {
    with_sessions(|s| s.unavailable().map(str::to_owned)).flatten()
}

/// Loaded conversations that are not in plaintext, as references replies go to.
pub(crate) fn active() -> Vec<ConvRef> {
    refs(with_sessions(|s| s.active()))
}

/// Loaded conversations that would not let plaintext out.
pub(crate) fn protected() -> Vec<ConvRef> {
    refs(with_sessions(|s| s.protected()))
}

/// What was typed and not sent after all (`typed`): forgotten by `r`'s conversation, so that
/// no not-read notice has it sent again by itself ([`Sessions::forget_sent_text`]).
///
/// [`Sessions::forget_sent_text`]: crate::sessions::Sessions::forget_sent_text
pub(crate) fn forget_sent_text(r: &ConvRef, typed: &str) {
    let key = r.key();
    let _ = with_sessions(|s| s.forget_sent_text(&key, typed));
}

/// A typed message given back NOT sent in the call that sent it (pieces of it may have left):
/// its record forgotten, so that the receiver's "arrived incomplete" does not have it sent again
/// by itself once the user has it back; a text of the same words that waits to go again (a
/// notice named it) still goes ([`Sessions::forget_sent_record`]).
///
/// [`Sessions::forget_sent_record`]: crate::sessions::Sessions::forget_sent_record
pub(crate) fn forget_sent_record(r: &ConvRef, typed: &str) {
    let key = r.key();
    let _ = with_sessions(|s| s.forget_sent_record(&key, typed));
}

/// The conversations of libpurple's accounts saved on disk, not loaded, that hold messages,
/// with how many ([`Sessions::held_on_disk`]: counted without loading them), named as the
/// store names them.
///
/// [`Sessions::held_on_disk`]: crate::sessions::Sessions::held_on_disk
pub(crate) fn held_on_disk() -> Vec<(ConvRef, usize)> {
    let mut out = Vec::new();
    for account in glue::accounts() {
        // A name only to make the account's part of a key.
        // SAFETY: libpurple's accounts, listed just now.
        let Some(base) = (unsafe { ConvRef::from_account(account, "-") }) else {
            continue;
        };
        let key = base.key();
        if let Some(held) = with_sessions(|s| s.held_on_disk(&key)) {
            out.extend(
                held.into_iter()
                    .map(|(p, n)| (base.with_peer(p.as_str()), n)),
            );
        }
    }
    out
}

/// The user deletes `account` (libpurple's `account-removed`, emitted by
/// `purple_accounts_delete` while the account is still whole): every message its conversations
/// hold to send, loaded or on disk, taken out and saved without, with the contact's name
/// ([`Sessions::take_account_texts`]).
///
/// # Safety
/// `account` must be a live account.
///
/// [`Sessions::take_account_texts`]: crate::sessions::Sessions::take_account_texts
pub(crate) unsafe fn account_removed(
    account: *mut sys::PurpleAccount,
) -> (Vec<(String, Vec<crate::protocol::SecretString>)>, bool) {
    // The key's account part from the account itself: libpurple took it out of its list
    // before the signal, so `ConvRef::key`, which looks it up by name, finds it only when
    // remembered (the first version's test failed now and then).
    // SAFETY: per the caller.
    let Some((protocol, normalized)) = (unsafe { glue::account_key(account) }) else {
        return (Vec::new(), true);
    };
    // (A name only for the settings a row is loaded with.)
    // SAFETY: per the caller.
    let Some(base) = (unsafe { ConvRef::from_account(account, "-") }) else {
        return (Vec::new(), true);
    };
    let key = ConvKey {
        protocol,
        account: normalized,
        peer: "-".to_owned(),
    };
    let on_disk = with_sessions(|s| s.held_on_disk(&key)).unwrap_or_default();
    for (peer, _) in on_disk {
        let settings = settings(&base.with_peer(peer.as_str()));
        let row = ConvKey {
            peer: peer.clone(),
            ..key.clone()
        };
        let _ = with_sessions(|s| s.state(&row, &peer, &settings));
    }
    with_sessions(|s| s.take_account_texts(&key)).unwrap_or((Vec::new(), true))
}

/// Loaded conversations whose start of ours has gone unanswered past the timeout now.
pub(crate) fn lapsing() -> Vec<ConvRef> {
    refs(with_sessions(|s| s.lapsing(now_secs())))
}

/// Loaded conversations with a long line lost in pieces to tell now (`Sessions::incomplete`).
pub(crate) fn incomplete() -> Vec<ConvRef> {
    refs(with_sessions(|s| s.incomplete(now_secs())))
}

/// Every text waiting to be sent again (in memory only), taken, with its conversation: the
/// plugin unloads (`Sessions::take_every_resend`).
pub(crate) fn take_every_resend() -> Vec<(ConvRef, Vec<crate::protocol::SecretString>)> {
    with_sessions(|s| s.take_every_resend())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, peer, texts)| {
            let r = ConvRef {
                protocol: k.protocol,
                account: k.account,
                peer,
            };
            (r, texts)
        })
        .collect()
}

fn refs(list: Option<Vec<(ConvKey, String)>>) -> Vec<ConvRef> {
    list.unwrap_or_default()
        .into_iter()
        .map(|(k, peer)| ConvRef {
            protocol: k.protocol,
            account: k.account,
            peer,
        })
        .collect()
}

/// State of the conversation with `r`, loaded from the store if needed.
pub(crate) fn conv_state(r: &ConvRef) -> Option<ConvState> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.state(&key, &r.peer, &settings)).flatten()
}

/// Whether another client of `r`'s contact has a session up (`Sessions::another_client_reads`).
pub(crate) fn another_client_reads(r: &ConvRef) -> bool {
    let key = r.key();
    with_sessions(|s| s.another_client_reads(&key)).unwrap_or(false)
}

/// Why `r`'s saved conversation cannot be restored, if it cannot (`Sessions::unrestorable`).
pub(crate) fn unrestorable(r: &ConvRef) -> Option<String> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.unrestorable(&key, &r.peer, &settings)).flatten()
}

/// Whether a line that bypasses `sending-im-msg` (IRC's `/msg`, `/query`, `/me`) may go to `r`
/// in plaintext (`Sessions::plaintext_allowed`).
pub(crate) fn plaintext_allowed(r: &ConvRef) -> bool {
    allowed_here(r) && nick_twin(r).is_none()
}

/// [`plaintext_allowed`] for `r`'s own conversation alone.
fn allowed_here(r: &ConvRef) -> bool {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.plaintext_allowed(&key, &r.peer, &settings)).unwrap_or(false)
}

/// What the conversation with `r` is to another conversation of its buddy-list contact
/// (`Sessions::sibling_state`; `Unknown` when the service cannot be asked).
pub(crate) fn sibling_state(r: &ConvRef) -> SiblingState {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.sibling_state(&key, &r.peer, &settings)).unwrap_or(SiblingState::Unknown)
}

/// A line typed to `r` in plaintext, beside the contact's other open conversations
/// `siblings`: whether it goes (`Sessions::check_siblings`).
pub(crate) fn check_siblings(r: &ConvRef, siblings: &[(ConvKey, SiblingState)]) -> Option<Verdict> {
    let key = r.key();
    with_sessions(|s| s.check_siblings(&key, siblings, now_secs()))
}

/// Whether this process holds the profile's store (it opened; a second client on the profile
/// is refused it).
pub(crate) fn holds_store() -> bool {
    with_sessions(|s| s.store().is_some()).unwrap_or(false)
}

/// A line of Sotto's own made the window show `r`'s conversation (`Sessions::shown_in`).
pub(crate) fn shown_in(r: &ConvRef) {
    let key = r.key();
    let _ = with_sessions(|s| s.shown_in(&key));
}

/// The user answered "send unencrypted" about the line held back for `r`
/// (`Sessions::confirm_siblings`): `false` when there was no question, or no service.
pub(crate) fn confirm_siblings(r: &ConvRef) -> bool {
    let key = r.key();
    with_sessions(|s| s.confirm_siblings(&key, now_secs())).unwrap_or(false)
}

/// Time passes for the conversation with `r` (a start of ours may lapse, a start the answer
/// limit held back may be answered): what that decided, saved, as a user action's effects.
pub(crate) fn tick(r: &ConvRef) -> Option<Effects> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.tick(&key, &r.peer, &settings, &mut OsRng)).flatten()
}

/// Tells what the conversation with `r` lost in pieces (`Conversation::tell_incomplete`): a
/// window line and not-read notices, as a user action's effects (nothing saved changes).
pub(crate) fn tell_incomplete(r: &ConvRef) -> Option<Effects> {
    let now = settings(r).now_secs;
    act(r, |conv, _| conv.tell_incomplete(now))
}

/// Whether sending to `r` is held on a key the user has not accepted (a hold on an accepted
/// key, for names that do not match, is not one).
pub(crate) fn key_not_accepted(r: &ConvRef) -> bool {
    waiting(r).is_some_and(|(_, blocked)| blocked) && peer_trust(r).is_none()
}

/// Messages waiting to be sent to `r`, and whether sending is blocked by a changed key.
pub(crate) fn waiting(r: &ConvRef) -> Option<(usize, bool)> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.waiting(&key, &r.peer, &settings)).flatten()
}

/// Whether `r`'s conversation is held on an accepted key for the names its session states.
pub(crate) fn held_for_names(r: &ConvRef) -> bool {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.held_for_names(&key, &r.peer, &settings))
        .flatten()
        .unwrap_or(false)
}

/// The names `r`'s session stated (its own, and whom it writes to), while sending is held for
/// them.
pub(crate) fn names_hold(r: &ConvRef) -> Option<(String, String)> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.names_hold(&key, &r.peer, &settings)).flatten()
}

/// Whether a start of ours with `r` lapsed unanswered (what is typed is held).
pub(crate) fn start_lapsed(r: &ConvRef) -> bool {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.start_lapsed(&key, &r.peer, &settings))
        .flatten()
        .unwrap_or(false)
}

/// Whether a start with `r` was asked for here and is not over (`Sessions::start_asked`):
/// never for a name that only wrote to us, nor for our answer to its start.
pub(crate) fn start_asked(r: &ConvRef) -> bool {
    let key = r.key();
    with_sessions(|s| s.start_asked(&key)).unwrap_or(false)
}

/// Whether the start with `r` in flight was tried again without the user
/// (`Sessions::start_retrying`).
pub(crate) fn start_retrying(r: &ConvRef) -> bool {
    let key = r.key();
    with_sessions(|s| s.start_retrying(&key)).unwrap_or(false)
}

/// The contact's key in the current (or last) session with `r`, loaded from the store if needed.
pub(crate) fn peer_key(r: &ConvRef) -> Option<IdentityPublic> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.peer_key(&key, &r.peer, &settings)).flatten()
}

/// The transport says the contact's client `r.peer` (an XMPP full JID) is `available`, or went
/// offline (`Sessions::presence`: only a conversation whose session's client is known is
/// looked at, loaded for it if need be; a login's flood of presences costs one lookup each).
pub(crate) fn presence(r: &ConvRef, available: bool) -> Option<Effects> {
    let key = r.key();
    if !with_sessions(|s| s.follows_presence(&key)).unwrap_or(false) {
        return None;
    }
    let settings = settings(r);
    with_sessions(|s| s.presence(&key, &r.peer, available, &settings, &mut OsRng)).flatten()
}

/// The contact's client `r.peer` came online (an XMPP full JID's available presence, a buddy's
/// sign-on): its conversation, if not in memory and holding typed text on disk, is loaded
/// (after a restart: `Sessions::held_unloaded`), before the presence is told
/// ([`presence`], [`contact_presence`]), under the name it goes by: an XMPP contact's bare
/// JID, unless its key keeps the resource (a group chat's occupant). The settings are read
/// only for a conversation that is loaded.
pub(crate) fn load_if_held(r: &ConvRef) {
    let key = r.key();
    if !with_sessions(|s| s.held_unloaded(&key)).unwrap_or(false) {
        return;
    }
    let raw = match r.peer.split_once('/') {
        Some((bare, _)) if !key.peer.contains('/') => bare,
        _ => r.peer.as_str(),
    };
    let settings = settings(r);
    let _ = with_sessions(|s| s.load_held(&key, raw, &settings));
}

/// The contact's client `r.peer` (an XMPP full JID) is `available`, or went offline: one
/// that came online tries a start of ours that lapsed again (`Sessions::contact_presence`,
/// `Sessions::contact_online`). Nothing is loaded for it (a conversation holding text on
/// disk was, by [`load_if_held`]), and the settings are read only for a conversation that
/// may want a start.
pub(crate) fn contact_presence(r: &ConvRef, available: bool) -> Option<Effects> {
    let key = r.key();
    if !with_sessions(|s| s.contact_presence(&key, &r.peer, available)).unwrap_or(false) {
        return None;
    }
    let settings = settings(r);
    with_sessions(|s| s.contact_online(&key, &settings, &mut OsRng)).flatten()
}

/// Whether what is typed to `r` waits for the contact's client that went offline, with
/// something held (the menu offers it back).
pub(crate) fn held_for_away_holder(r: &ConvRef) -> bool {
    let key = r.key();
    with_sessions(|s| s.held_for_away_holder(&key)).unwrap_or(false)
}

/// The user takes back what is held for `r`'s contact's client that went offline; the session
/// goes on.
pub(crate) fn give_back_held(r: &ConvRef) -> Option<Effects> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.give_back_held(&key, &r.peer, &settings, &mut OsRng)).flatten()
}

/// The transport says `line`, which it hands over next from `r`'s contact (`r.peer`, the
/// address it came from), was kept by the server while this account was offline.
pub(crate) fn kept_by_server(r: &ConvRef, line: &str) {
    let key = r.key();
    let _ = with_sessions(|s| s.kept_by_server(&key, &r.peer, line));
}

/// This side's account (`account` on `protocol`, normalized as keys name it) signed off, or
/// on again: its conversations forget what they saw of their contacts' clients
/// (`Sessions::forget_presence`).
pub(crate) fn forget_presence(protocol: &str, account: &str) {
    let _ = with_sessions(|s| s.forget_presence(protocol, account));
}

/// The transport says `line` was addressed to another client of this account.
pub(crate) fn addressed_elsewhere(line: &str) {
    let _ = with_sessions(|s| s.addressed_elsewhere(line));
}

/// The contact's other clients with a session: address, whether it reads what is typed, its
/// key's fingerprint.
pub(crate) fn other_clients(r: &ConvRef) -> Vec<(String, bool, Option<String>)> {
    let key = r.key();
    with_sessions(|s| s.other_clients(&key)).unwrap_or_default()
}

/// The key of another client of `r`'s contact that waits for acceptance, by its fingerprint.
pub(crate) fn other_client_key(r: &ConvRef, fingerprint: &str) -> Option<IdentityPublic> {
    let key = r.key();
    with_sessions(|s| s.other_client_key(&key, fingerprint)).flatten()
}

/// The user accepts the key of another client of the contact whose fingerprint starts with
/// `typed`. `None`: no such client waits for acceptance.
pub(crate) fn accept_other_client(r: &ConvRef, typed: &str) -> Option<Effects> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| s.accept_other_client(&key, &r.peer, &settings, typed, &mut OsRng)).flatten()
}

/// Where the lines of the current session with `r`'s contact go: the wire name of the
/// contact's client that holds it (an XMPP full JID), when known.
pub(crate) fn session_address(r: &ConvRef) -> Option<String> {
    let key = r.key();
    with_sessions(|s| s.session_address(&key).map(str::to_owned)).flatten()
}

/// Whether our answer to `r`'s contact's question has left, its result awaited.
pub(crate) fn verification_answered(r: &ConvRef) -> bool {
    let key = r.key();
    with_sessions(|s| s.verification_answered(&key)).unwrap_or(false)
}

/// Whether a verification runs with `r`'s contact (either side's question).
pub(crate) fn verification_running(r: &ConvRef) -> bool {
    let key = r.key();
    with_sessions(|s| s.verification_running(&key)).unwrap_or(false)
}

/// Whether the contact's question still waits for our answer.
pub(crate) fn question_pending(r: &ConvRef) -> bool {
    pending_question(r).is_some()
}

/// The contact's question that waits for our answer, if any.
pub(crate) fn pending_question(r: &ConvRef) -> Option<String> {
    let key = r.key();
    with_sessions(|s| s.pending_question(&key)).flatten()
}

/// The text of `line`, sent to `r` and handed back undelivered, while it is remembered.
pub(crate) fn sent_text(r: &ConvRef, line: &str) -> Option<SecretString> {
    let key = r.key();
    with_sessions(|s| s.sent_text(&key, line)).flatten()
}

/// `line`, a data line sent to `r`, handed back undelivered: not told yet, or told
/// (`Sessions::handed_back`).
pub(crate) fn handed_back(r: &ConvRef, line: &str) -> HandedBack {
    let key = r.key();
    with_sessions(|s| s.handed_back(&key, line)).unwrap_or(HandedBack::Unknown)
}

/// The user was told that `line`, sent to `r`, was handed back (`Sessions::told_handed_back`).
pub(crate) fn told_handed_back(r: &ConvRef, line: &str) {
    let key = r.key();
    let _ = with_sessions(|s| s.told_handed_back(&key, line));
}

/// `r` as its conversation is named now, for `line`, a data line sent to `r` and handed back
/// undelivered: the same, or the name a rename moved the conversation to since
/// (`Sessions::sent_text_moved`).
pub(crate) fn followed_for_line(r: &ConvRef, line: &str) -> ConvRef {
    let key = r.key();
    match with_sessions(|s| s.sent_text_moved(&key, line)).flatten() {
        Some(peer) => ConvRef { peer, ..r.clone() },
        None => r.clone(),
    }
}

/// How the user trusts the key of the current (or last) session with `r`.
pub(crate) fn peer_trust(r: &ConvRef) -> Option<Trust> {
    let key = r.key();
    with_sessions(|s| s.peer_trust(&key)).flatten()
}

/// Fingerprint of an account's identity (created on first use).
pub(crate) fn account_fingerprint(protocol: &str, account: &str) -> Option<String> {
    // The identity is per account; the peer part of the reference is not used.
    let r = ConvRef {
        protocol: protocol.to_owned(),
        account: account.to_owned(),
        peer: account.to_owned(),
    };
    let key = r.key();
    with_sessions(|s| s.identity(&key.protocol, &key.account))
        .flatten()
        .map(|i| i.key.public().fingerprint().to_string())
}

/// Our fingerprint for `r`'s account and the contact's, if known.
pub(crate) fn fingerprints(r: &ConvRef) -> Option<(String, Option<String>)> {
    let (key, settings) = (r.key(), settings(r));
    with_sessions(|s| {
        let ours = s
            .identity(&key.protocol, &key.account)?
            .key
            .public()
            .fingerprint()
            .to_string();
        let theirs = s
            .peer_key(&key, &r.peer, &settings)
            .map(|p| p.fingerprint().to_string());
        Some((ours, theirs))
    })
    .flatten()
}

/// The user compared fingerprints: `peer_key` is recorded, verified.
pub(crate) fn mark_verified(r: &ConvRef, peer_key: &IdentityPublic) -> Option<Result<(), String>> {
    let key = r.key();
    with_sessions(|s| s.mark_verified(&key, peer_key))
}

/// Every recorded key of every contact.
pub(crate) fn all_trust_records() -> Result<(Vec<TrustRecord>, usize), String> {
    with_sessions(|s| s.all_trust_records()).unwrap_or_else(|| Err("no key store".to_owned()))
}

/// Verify, unverify or forget one recorded key.
pub(crate) fn change_record(t: &TrustRecord, change: Change) -> RecordChange {
    with_sessions(|s| s.change_record(t, change)).unwrap_or(RecordChange {
        done: Changed::Failed,
        also: Vec::new(),
    })
}

/// The host renamed the contact: move the conversation from `old` to `r`'s name.
fn rename(old: &ConvKey, r: &ConvRef) -> Option<Result<Vec<Notice>, String>> {
    let (new, settings) = (r.key(), settings(r));
    with_sessions(|s| s.rename(old, &new, &r.peer, &settings)).flatten()
}

/// Whether `conv`'s window is in step with its conversation (see `windows`): a window renamed
/// since it was last seen takes its conversation to the new name first. `false` when the
/// contact was renamed and the conversation could not follow: the caller refuses to send.
///
/// # Safety
/// `conv` must be null or a live conversation.
pub(crate) unsafe fn track(conv: *mut sys::PurpleConversation) -> bool {
    // SAFETY: per the caller.
    let Some(r) = (unsafe { ConvRef::from_conversation(conv) }) else {
        return true;
    };
    // SAFETY: `conv` is live (it gave a reference).
    let Some((id, known)) = (unsafe { windows::known(conv) }) else {
        // SAFETY: live conversation.
        unsafe { windows::tag(conv, &r) };
        return true;
    };
    let new = r.key();
    if known.key == new {
        if known.rename_failed_told.is_some() {
            // Back in step (an account edit undone): a later failure is told again.
            windows::rename_settled(id);
        }
        return true;
    }
    // The account's own name (or protocol) changed under the window (Modify Account while it
    // is open): another account, not a contact's rename. Nothing moves between accounts (the
    // old account's conversation stays saved under it: moved as a rename, its row was parked
    // as another contact's, and the session went on under an account whose key never stated
    // it); the window sends and reads nothing, and says so once.
    if another_account(&known.key, &new) {
        if windows::first_rename_failure(id, &new) {
            let line = texts::account_changed(&known.key.account, &new.account, &r.peer);
            // SAFETY: `conv` is live (per the caller). Written in this window: the
            // conversation its name stands for now may have one of its own.
            unsafe { glue::system_line_to(conv, &line) };
        }
        return false;
    }
    // A private chat with a room's occupant (`room@server/nick`), the room left, whose name
    // now stands for the room's address as a contact on the roster (a roster push can put it
    // there at any time): that is no rename of the occupant. Followed, the occupant's session
    // moved onto the contact's name, where every other occupant's window (and the buddy's)
    // would have used it; not followed, what was typed went out under the contact's blank
    // conversation, in plaintext (found by read-only reviews). The window sends and reads
    // nothing, and says so once.
    if known.key.protocol == "prpl-jabber"
        && known
            .key
            .peer
            .split_once('/')
            .is_some_and(|(room, _)| glue::is_room_address(room, &new.peer))
    {
        if windows::first_rename_failure(id, &new) {
            let line = texts::occupant_now_a_contact(&known.key.peer, &new.peer);
            // SAFETY: as above (the room's address may have a window of its own).
            unsafe { glue::system_line_to(conv, &line) };
        }
        return false;
    }
    let followed = follow(&r, id, &known);
    // The window left its old name: another (IRC) window still showing it is entered again
    // in libpurple's lookup by name, which the rename took from it.
    if let Ok(old) = std::ffi::CString::new(known.key.peer.as_str()) {
        // SAFETY: `conv` is live (it gave a reference), and so is its account.
        unsafe { windows::name_left(sys::purple_conversation_get_account(conv), &old, conv) };
    }
    followed
}

/// Whether `a` and `b` are conversations of two accounts (or protocols).
fn another_account(a: &ConvKey, b: &ConvKey) -> bool {
    a.protocol != b.protocol || a.account != b.account
}

/// The line refusing a command or a menu action in `conv`'s window when its account changed
/// under it (see [`track`]): `None` when it did not. Such an action would act as the new
/// account (a start under its key, from a window that reads none of the answers).
///
/// # Safety
/// `conv` must be a live conversation.
pub(crate) unsafe fn account_changed(conv: *mut sys::PurpleConversation) -> Option<String> {
    // SAFETY: per the caller.
    let r = unsafe { ConvRef::from_conversation(conv) }?;
    // SAFETY: per the caller.
    let (_, known) = unsafe { windows::known(conv) }?;
    let new = r.key();
    another_account(&known.key, &new)
        .then(|| texts::account_changed(&known.key.account, &new.account, &r.peer))
}

/// The window `r` names, if one is open, tracked (see [`track`]); `true` when none is.
///
/// Also every open window filed under exactly `r`'s name whose conversation is another now:
/// the send path gets a name, not a window, and libpurple's lookup by name can miss the window
/// the user typed in. An XMPP private chat with `room@server/bob`, once the room is left and the
/// room's address is on the roster (a roster push), normalizes to `room@server`: the lookup
/// found no window, nothing followed, and what was typed in bob's encrypted window went out
/// under a new conversation, in plaintext (found by a read-only review). Such a window follows
/// now, or, where it cannot (its name now stands for a room left as a contact: [`track`]
/// refuses it), nothing is sent.
pub(crate) fn track_name(r: &ConvRef) -> bool {
    let conv = r.conversation();
    // SAFETY: looked up just now: null or live.
    if !conv.is_null() && !unsafe { track(conv) } {
        return false;
    }
    track_named(r, conv)
}

/// Every open window named exactly as `r` but `except` (the window libpurple's lookup gave,
/// tracked already), tracked ([`track_name`]); `false` when one could not follow.
pub(crate) fn track_named(r: &ConvRef, except: *mut sys::PurpleConversation) -> bool {
    glue::ims_named(r)
        .into_iter()
        .filter(|&w| w != except)
        // SAFETY: in libpurple's list of open IMs just now (checked again before each: the
        // lines one window's tracking writes may have another closed): live.
        .all(|w| !glue::still_open(w) || unsafe { track(w) })
}

/// The contact of window `id` was renamed to `r.peer`: the conversation follows, and the window
/// says so in one line.
fn follow(r: &ConvRef, id: usize, known: &Tag) -> bool {
    let old_ref = r.with_peer(known.key.peer.as_str());
    // A policy set on the buddy the window was opened for stays with the window.
    let carried = windows::buddy_policy(&old_ref).or(known.carried_policy);
    // The policy in force under the old name, as `policy` read it there (before anything
    // moves; the window's own carried policy first, then the contact's, the buddy's, the
    // global one).
    let always = Some(crate::protocol::Policy::Always);
    let old_always = known.carried_policy == always
        || Some(
            contact_policy(&old_ref)
                .or(carried)
                .unwrap_or_else(glue::global_policy),
        ) == always;
    match rename(&known.key, r) {
        None => true,
        Some(Ok(notices)) => {
            let new = r.key();
            // The store may have copied the contact's policy to the new name: read it again.
            let _ = with_state(|s| s.policies.remove(&new));
            windows::moved(id, &known.key, &new, carried);
            // "Always" (never unencrypted) in force under the old name (the window's, the
            // contact's, the buddy's or the global one) stays in force in this window when the
            // new name has a weaker setting of its own (kept by the store, which copies a
            // policy only to a name with none): the new name's "manual", set for whoever held
            // it before, let the next line go out in plaintext (found by a read-only audit).
            // Carried by the window, in memory, not saved for the name: a server that renames
            // a contact from name to name cannot rewrite the user's settings, and nothing can
            // fail to save (a first version saved it: found by a hostile review).
            let weaker = policy(r);
            if old_always && weaker != crate::protocol::Policy::Always {
                windows::carry_always(id);
                r.system_line(&texts::always_followed(
                    &texts::Shown::new(&known.key.peer),
                    &texts::Shown::new(&r.peer),
                    weaker,
                ));
            }
            for notice in &notices {
                r.system_line(&super::present::notice_line(r, notice));
            }
            // Pieces of a message still in the IRC queue go to the old nick.
            super::pace::renamed(r, &known.key.peer);
            // A window still named after the name's previous holder (who left) now reaches the
            // renamed contact: say so there, once.
            let has = |f: fn(&Notice) -> bool| notices.iter().any(f);
            let held = texts::Taken::Held {
                always: policy(r) == crate::protocol::Policy::Always,
            };
            // What the renamed conversation does with what is typed, as it stands now.
            let typed = if has(|n| matches!(n, Notice::NameTaken { .. })) {
                held
            } else if has(|n| matches!(n, Notice::RenamedOntoAnother { .. }))
                || waiting(r).is_some_and(|(_, blocked)| blocked)
            {
                texts::Taken::KeyHeld
            } else if conv_state(r) == Some(crate::protocol::ConvState::Encrypted) {
                texts::Taken::Reaches
            } else if allowed_here(r) {
                texts::Taken::Plaintext
            } else {
                held
            };
            let line = texts::name_taken(&r.peer, &known.key.peer, typed);
            for stale in windows::others_showing(&new, id) {
                // Each line written may have another window closed: checked before each.
                if glue::still_open(stale) {
                    // SAFETY: in libpurple's open conversations just now.
                    unsafe { glue::system_line_to(stale, &line) };
                }
            }
            true
        }
        Some(Err(reason)) => {
            if windows::first_rename_failure(id, &r.key()) {
                r.system_line(&texts::rename_failed(&known.key.peer, &r.peer, &reason));
            }
            // The conversation could not follow, but its queued pieces go to the old nick all
            // the same.
            super::pace::renamed(r, &known.key.peer);
            false
        }
    }
}

/// How often the store's write-ahead log is emptied while Sotto is loaded.
const CHECKPOINT_SECS: u32 = 30;

/// [`CHECKPOINT_SECS`], or `SOTTO_TEST_CHECKPOINT_SECS` (1 to 30) from the process environment:
/// the end-to-end tests that watch the store's files for writes let the checkpoint of what was
/// saved before them happen first, so it is not taken for a write of theirs. Unset in real use.
fn checkpoint_secs() -> u32 {
    std::env::var("SOTTO_TEST_CHECKPOINT_SECS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .map_or(CHECKPOINT_SECS, |s| s.clamp(1, CHECKPOINT_SECS))
}

/// [`crate::sessions::STRANGERS_KEPT`], or `SOTTO_TEST_STRANGERS_KEPT` (0 up to it) from the
/// process environment (read once): the end-to-end test of what strangers leave behind cannot
/// make 64 of them within the stranger line budget. Unset in real use.
fn strangers_kept() -> usize {
    static KEPT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *KEPT.get_or_init(|| {
        let kept = crate::sessions::STRANGERS_KEPT;
        std::env::var("SOTTO_TEST_STRANGERS_KEPT")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .map_or(kept, |n| n.min(kept))
    })
}

/// The nicks the server takes `name` to reach, folded as it matches them (IRC: RFC 1459's
/// case mapping, past channel prefixes, lists and `!user@host`, whatever the user's locale
/// lowercased ([`without_locale_case`]); SILC: its identifier profile); none on other
/// protocols, whose names are compared as they are.
fn twin_spellings(protocol: &str, name: &str) -> Vec<String> {
    match protocol {
        IRC => irc_reached(name).into_iter().map(irc_twin).collect(),
        SILC => vec![silc_fold(name)],
        _ => Vec::new(),
    }
}

/// The spelling every spelling of an IRC `nick` that a server takes for it shares: RFC 1459's
/// case mapping, after what the user's locale did to it ([`without_locale_case`]) and what a
/// server with Unicode nicks folds ([`unicode_fold`]). An ASCII nick takes one pass (neither
/// changes it); another is folded in ASCII first, so that the result is a fold of RFC 1459's
/// own, which only ever adds twins to those it found.
fn irc_twin(nick: &str) -> String {
    if nick.is_ascii() {
        return irc_fold(nick);
    }
    irc_fold(&unicode_fold(&irc_fold(&without_locale_case(nick))))
}

/// An IRC nick as libpurple lowercased it (`purple_normalize_nocase`: GLib's `g_utf8_strdown`,
/// which follows the user's locale, as Pidgin and Finch run), whatever that locale was. In a
/// Turkish or Azeri one `I` is the capital of the dotless `ı` and `İ` of `i`; in the others
/// `I` is `i`'s and `İ` lowers to `i` with a combining dot above. A server folds nicks in
/// ASCII: `Irene` and `irene` are one nick to it, `ırene` and `irene` two names to libpurple
/// (a line typed to `irene` left in plaintext while the server delivered it to the encrypted
/// Irene; and a profile run in another locale names its contacts otherwise). Each `ı` (and
/// `İ`) is `i` here, and a dot above after an `i` goes. A server that takes `ı` in a nick
/// (UnrealIRCd's `turkish-utf8`) has `ırene` and `irene` as two nicks: text to one is then held
/// while the other is encrypted (too much held, never a leak).
fn without_locale_case(nick: &str) -> String {
    let mut out = String::with_capacity(nick.len());
    for c in nick.chars() {
        match c {
            '\u{131}' | '\u{130}' => out.push('i'),
            '\u{307}' if out.ends_with(['i', 'I']) => {}
            c => out.push(c),
        }
    }
    out
}

/// An IRC nick as a server with Unicode nicks folds it (Ergo's `precis` case mapping: RFC 8265's
/// UsernameCaseMapped, width mapped, lower case, NFC): `ｂｏｂ` and `ＢＯＢ` are bob there, while
/// libpurple's lowercasing keeps them apart (a line typed to `ｂｏｂ` left in plaintext while
/// such a server delivered it to the encrypted bob). NFKC here (other compatibility forms, which
/// such a server refuses, too), then lower case in no locale. On a server that takes them for
/// other nicks (or refuses them) text to them is then held while bob is encrypted: too much
/// held, never a leak.
fn unicode_fold(nick: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    nick.nfkc().flat_map(char::to_lowercase).collect()
}

/// The conversations of `r`'s account the host shows or knows, as Sotto names them (normalized,
/// as the store does): each open IM window's name and the conversation Sotto has it show (a
/// window renamed with its contact, or one whose name a mark holds), and each buddy's. Looked
/// up by name, a window or buddy whose protocol spells names otherwise (SIP's `sip:` scheme)
/// was not found.
fn names_in_use(r: &ConvRef) -> std::collections::HashSet<String> {
    let key = r.key();
    let mine =
        |k: &crate::sessions::ConvKey| k.protocol == key.protocol && k.account == key.account;
    let mut names = std::collections::HashSet::new();
    for conv in glue::open_ims() {
        // SAFETY: listed from libpurple's open conversations just now.
        if let Some(k) = unsafe { ConvRef::from_conversation(conv) }.map(|c| c.key()) {
            if mine(&k) {
                names.insert(k.peer);
            }
        }
        // SAFETY: as above.
        if let Some((_, tag)) = unsafe { super::windows::known(conv) } {
            if mine(&tag.key) {
                names.insert(tag.key.peer);
            }
        }
    }
    for name in glue::buddy_names(r.account()) {
        names.insert(r.with_peer(name).key().peer);
    }
    names
}

/// A libpurple timeout of ours, removed when dropped (plugin unload) unless it already ran
/// and was not repeated ([`Timeout::ran`]).
pub(crate) struct Timeout(u32);

impl Timeout {
    /// Empties the store's write-ahead log every [`CHECKPOINT_SECS`] when something was saved
    /// (`Sessions::checkpoint`), off every send path, and sweeps memory (`Sessions::sweep`:
    /// old fragments, names that hold nothing). On a clean exit SQLite checkpoints when the
    /// store closes.
    pub(crate) fn checkpoints() -> Self {
        Self::every(checkpoint_secs(), checkpoint_tick)
    }

    /// `tick` every `secs` seconds on libpurple's main loop, for as long as it returns 1.
    pub(crate) fn every(
        secs: u32,
        tick: unsafe extern "C" fn(sys::gpointer) -> sys::gboolean,
    ) -> Self {
        // SAFETY: `tick` has GSourceFunc's signature; no data pointer.
        Timeout(unsafe { sys::purple_timeout_add_seconds(secs, Some(tick), std::ptr::null_mut()) })
    }

    /// How often the periodic sweeps run ([`CHECKPOINT_SECS`], shorter in tests).
    pub(crate) fn sweep_secs() -> u32 {
        checkpoint_secs()
    }

    /// `tick` once, after the callbacks the main loop is dispatching now (a 0 ms timeout); its
    /// callback returns 0 and calls [`Self::ran`].
    pub(crate) fn soon(tick: unsafe extern "C" fn(sys::gpointer) -> sys::gboolean) -> Self {
        // SAFETY: `tick` has GSourceFunc's signature; no data pointer.
        Timeout(unsafe { sys::purple_timeout_add(0, Some(tick), std::ptr::null_mut()) })
    }

    /// Called from its own callback, which returns 0: GLib removes the source itself.
    pub(crate) fn ran(mut self) {
        self.0 = 0;
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        if self.0 != 0 {
            // SAFETY: an id a libpurple timeout function returned, removed once, still active.
            unsafe { sys::purple_timeout_remove(self.0) };
        }
    }
}

unsafe extern "C" fn checkpoint_tick(_data: sys::gpointer) -> sys::gboolean {
    super::boundary::ffi_boundary!(1, {
        let _ = with_sessions(Sessions::checkpoint);
        let _ = with_sessions(|s| s.sweep(now_secs()));
        box_told();
        1
    })
}

/// Whether the profile's record says this load's box about the store may not have been seen
/// (`store::ProfileRecord::untold`): cleared by the first sweep after the load.
static BOX_UNTOLD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// At load: whether the record was written with a box not yet seen.
pub(crate) fn box_untold(untold: bool) {
    BOX_UNTOLD.store(untold, std::sync::atomic::Ordering::Relaxed);
}

/// The box about the store has been up for a sweep's interval: the record stops asking for it
/// again at the next start.
fn box_told() {
    if BOX_UNTOLD.swap(false, std::sync::atomic::Ordering::Relaxed) {
        update_record("the store's box seen", |r| r.untold = None);
    }
}

/// Changes the profile's record (`store::ProfileRecord`, made at load) with `change`, written
/// whole when it changed: only where this process holds the store (a second client on the
/// profile, refused it, writes nothing). `what`: for the debug log when it cannot be.
pub(crate) fn update_record(what: &str, change: impl FnOnce(&mut crate::store::ProfileRecord)) {
    if !holds_store() {
        return;
    }
    let Some(path) = glue::user_dir().map(|d| d.join(crate::store::PROFILE_RECORD_FILE)) else {
        return;
    };
    let recorded = match crate::store::ProfileRecord::read(&path) {
        Ok(Some(r)) => r,
        // Made at load by this process: gone or unreadable since.
        _ => {
            glue::debug_warning(&format!("{what}: the record is gone"));
            return;
        }
    };
    let mut record = recorded.clone();
    change(&mut record);
    if record != recorded {
        if let Err(e) = record.write(&path) {
            glue::debug_warning(&format!("{what}: not recorded: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{irc_fold, irc_reached, silc_fold, twin_spellings, IRC};

    /// What libpurple sends a window's line to: every nick the name reaches.
    #[test]
    fn an_irc_name_reaches_the_nicks_libpurple_and_servers_send_to() {
        assert_eq!(irc_reached("bob"), ["bob"]);
        assert_eq!(irc_reached("@bob"), ["bob"]);
        assert_eq!(irc_reached("+%~&bob"), ["bob"]);
        assert_eq!(irc_reached("!bob"), ["bob"], "a server's own PREFIX symbol");
        assert_eq!(
            irc_reached("[bob]"),
            ["[bob]"],
            "RFC 2812 specials begin nicks"
        );
        assert_eq!(irc_reached("_bob|x"), ["_bob|x"]);
        assert_eq!(irc_reached("bob,@carol"), ["bob", "carol"]);
        assert_eq!(irc_reached("bob!user@host"), ["bob"]);
        assert_eq!(irc_reached("bob%host@server"), ["bob"]);
        assert!(irc_reached("@").is_empty());
        assert!(irc_reached(",,").is_empty());
        // Spaces: the server's first word after PRIVMSG is the targets.
        assert_eq!(irc_reached("bob "), ["bob"]);
        assert_eq!(irc_reached("  bob"), ["bob"]);
        assert_eq!(irc_reached(" @bob "), ["bob"]);
        assert_eq!(
            irc_reached("@ bob"),
            ["bob"],
            "libpurple skips the @, the server the space"
        );
        assert_eq!(irc_reached("+ @ bob"), ["bob"]);
        assert_eq!(irc_reached("bob, carol"), ["bob"]);
        assert_eq!(irc_reached("bob carol"), ["bob"]);
        assert!(irc_reached("   ").is_empty());
        // A `#` channel reaches no nick; the other channel types are also status prefixes
        // libpurple takes off a window's name, and are read as such.
        assert!(irc_reached("#linux").is_empty());
        assert!(irc_reached(" #linux").is_empty());
        assert_eq!(irc_reached("#linux,bob"), ["bob"]);
        assert_eq!(irc_reached("bob,#linux"), ["bob"]);
        assert_eq!(irc_reached("&bob"), ["bob"]);
        assert_eq!(
            irc_reached("@#linux"),
            ["linux"],
            "a nick too many, never one too few"
        );
    }

    /// SILC's servers match nicks by stringprep's identifier profile: these all name bob.
    #[test]
    fn silc_nicks_fold_as_silc_servers_match_them() {
        for spelled in [
            "Bob",
            "BOB@silc.example",
            "\u{ff42}\u{ff4f}\u{ff42}",
            "bo\u{200b}b",
            "bo\u{1806}b",
        ] {
            assert_eq!(silc_fold(spelled), silc_fold("bob"), "{spelled:?}");
        }
        assert_ne!(silc_fold("bob"), silc_fold("rob"));
    }

    /// libpurple lowercases IRC nicks in the user's locale: `Irene` is `ırene` in a Turkish
    /// one, `İrene` is `i̇rene` (a combining dot above) in the others. The server takes each
    /// for the same nick as `irene`, and so does the check for another spelling.
    #[test]
    fn an_irc_nick_lowercased_in_a_turkish_locale_is_a_twin_of_its_ascii_spelling() {
        let ascii = twin_spellings(IRC, "irene");
        for spelled in ["\u{131}rene", "i\u{307}rene", "\u{130}rene", "@\u{131}rene"] {
            assert_eq!(twin_spellings(IRC, spelled), ascii, "{spelled:?}");
        }
        assert_eq!(
            twin_spellings(IRC, "b\u{131}b[x],n\u{131}body"),
            twin_spellings(IRC, "bib{x},nibody")
        );
        assert_ne!(
            twin_spellings(IRC, "\u{131}rene"),
            twin_spellings(IRC, "arene")
        );
        assert_ne!(
            twin_spellings(IRC, "\u{307}rene"),
            ascii,
            "a dot above after no i stays"
        );
        assert_eq!(
            twin_spellings("prpl-jabber", "\u{131}rene"),
            Vec::<String>::new()
        );
    }

    /// A server with Unicode nicks (Ergo's `precis`) folds width, case and compatibility forms:
    /// `ｂｏｂ` is bob there, and to the check for another spelling.
    #[test]
    fn an_irc_nick_in_fullwidth_or_compatibility_forms_is_a_twin_of_its_plain_spelling() {
        let plain = twin_spellings(IRC, "bob[x]");
        for spelled in [
            "\u{ff42}\u{ff4f}\u{ff42}[x]",
            "\u{ff22}\u{ff2f}\u{ff22}[x]",
            "\u{ff42}ob\u{ff3b}x\u{ff3d}",
            "@\u{ff42}\u{ff4f}\u{ff42}{x}",
        ] {
            assert_eq!(twin_spellings(IRC, spelled), plain, "{spelled:?}");
        }
        assert_eq!(
            twin_spellings(IRC, "\u{fb01}sh"),
            twin_spellings(IRC, "fish")
        );
        assert_ne!(
            twin_spellings(IRC, "\u{ff42}\u{ff4f}\u{ff42}"),
            twin_spellings(IRC, "rob")
        );
    }

    #[test]
    fn irc_nicks_fold_under_rfc_1459s_case_mapping() {
        assert_eq!(irc_fold("Bob[X]\\~"), irc_fold("bob{x}|^"));
        assert_eq!(irc_fold("bob[x]"), "bob{x}");
        assert_ne!(irc_fold("bob[x]"), irc_fold("bob(x)"));
        assert_eq!(irc_fold("ÄBob"), "Äbob", "ASCII only");
    }
}
