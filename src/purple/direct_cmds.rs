//! Protocol commands that would put text on the wire without `send_im` or any signal.
//!
//! libpurple's IRC protocol sends `/me`, `/action`, `/msg`, `/query nick text`, `/notice` and
//! `/ctcp` with `irc_send` directly, and XMPP's `/msg nick text` in a group chat calls
//! `jabber_message_send_im` directly: neither `sending-im-msg` nor the `send_im` wrapper sees
//! them. Sotto registers the same names for those protocols at plugin priority, so they run
//! first: when every target has no session and the policy allows plaintext they return CONTINUE
//! and the protocol's own command runs unchanged; otherwise the text goes through the session
//! (an action as the text `/me ...`, which the peer's libpurple shows as an action), and
//! `/notice` and `/ctcp`, which cannot be carried encrypted, are refused. "No state" (the store
//! is unavailable) is never plaintext; a comma-separated list of IRC targets is checked target
//! by target, and refused as a whole if any of them is encrypted; a target spelled
//! `nick!user@host` or `nick@server` is checked by its nick too.
//!
//! slack-libpurple's own commands do the same (`/me` through Slack's `chat.command`, `/edit`
//! through `chat.update`, `/thread` posting directly): `/me` is encrypted like IRC's, and
//! `/shrug`, `/edit`, `/thread`, `/th`, and `/msg`, `/dm` or `/remind` to a member with a
//! session (by username or display name, any case), are refused while encrypting.
//!
//! libpurple's Zephyr (`/msg`, and `/zir`, `/zcir` with a recipient) and SILC (`/msg`,
//! `/query`) send text past `send_im` too: `/msg` and `/query` are encrypted like IRC's (the
//! name as typed, none of IRC's other spellings), `/zir` and `/zcir` refused while the named
//! recipient's conversation is not in plaintext.
//!
//! Not covered: `/quote` and `/raw` (the user types protocol lines by hand), and other
//! third-party protocols' own commands not listed here.

use std::ffi::{c_char, c_void, CStr};

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::glue::{self, arg, set_error, CommandGuard, ConvRef};
use super::state::HeldLine;
use super::texts::Shown;
use super::{present, service, siblings, texts};
use crate::protocol::SecretString;
use crate::sessions::Outgoing;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `/me text`, `/action text`: an action to the conversation's peer.
    Me = 1,
    /// `/msg nick text`: a message to `nick`.
    Msg = 2,
    /// `/query nick [text]`: open a window with `nick`, optionally sending `text`.
    Query = 3,
    /// `/notice nick text`, `/ctcp nick ...`: no encrypted form; refused while encrypting.
    Refuse = 4,
    /// XMPP `/msg nick text` in a group chat: a private message to `room@server/nick`.
    RoomMsg = 5,
    /// A protocol's own command that puts text for this window's contact on the wire past
    /// `send_im` (slack-libpurple's `/edit`, `/thread`, `/shrug`): refused while encrypting.
    RefuseHere = 6,
    /// slack-libpurple's `/msg @someone text`, `/dm @someone text` (one argument, sent by
    /// Slack's server): refused while encrypting to that member.
    SlackMsg = 7,
    /// slack-libpurple's `/remind @someone to … in …` (Slackbot delivers the text to that
    /// member): as [`Kind::SlackMsg`]; `me`, `help`, `list` and a `#channel` reach no contact;
    /// any other first word is judged by this window's contact.
    SlackRemind = 8,
    /// `/msg nick text` of a protocol whose names are not IRC's (Zephyr, SILC): a message to
    /// `nick`, the name as typed (no `nick!user@host` or comma-list reading).
    NamedMsg = 9,
    /// `/query nick [text]` of such a protocol (SILC).
    NamedQuery = 10,
    /// Zephyr's `/zir instance recipient text`: refused while encrypting to `recipient`.
    RefuseSecond = 11,
    /// Zephyr's `/zcir class instance recipient text`: the same, `recipient` third.
    RefuseThird = 12,
    /// IRC's `/version [nick]` (one free argument, put whole where the target goes:
    /// `/version bob are you there` sends `PRIVMSG bob are you there :\x01VERSION\x01`, and
    /// servers that fold extra parameters into the text deliver the words in plaintext):
    /// refused with more than one word, IRC's own otherwise.
    OneTarget = 13,
    /// IRC's commands that put free text of the user's on the wire for the server, a channel
    /// or everyone who looks (`/away`, `/topic`, `/part`, `/kick`, `/remove`, `/quit`,
    /// `/wallops`, `/operwall`, `/nick`): never a one-to-one message, so only a Sotto command
    /// on a line of their text is refused (`/away brb` with `/sotto answer …` on a second
    /// line: `/away` made it the away message anyone could read, the others sent the second
    /// line to the server as a line of its own; found by the hostile review of the `/me`
    /// fix); anything else goes on to IRC's own.
    Guard = 14,
}

const IM_CHAT: sys::PurpleCmdFlag = sys::PURPLE_CMD_FLAG_IM | sys::PURPLE_CMD_FLAG_CHAT;

const CHAT: sys::PurpleCmdFlag = sys::PURPLE_CMD_FLAG_CHAT;

/// `/query nick [text]`: the text is optional.
const QUERY: sys::PurpleCmdFlag = IM_CHAT | sys::PURPLE_CMD_FLAG_ALLOW_WRONG_ARGS;

/// slack-libpurple registers its commands at `PURPLE_CMD_P_PRPL` with one argument, any
/// arguments allowed; ours run first (plugin priority) and take what it takes.
const SLACK: sys::PurpleCmdFlag = IM_CHAT | sys::PURPLE_CMD_FLAG_ALLOW_WRONG_ARGS;

/// Any arguments: [`Kind::Guard`] reads the text whole and hands everything else on.
const GUARD: sys::PurpleCmdFlag = IM_CHAT | sys::PURPLE_CMD_FLAG_ALLOW_WRONG_ARGS;

const OVERRIDES: [(&CStr, &CStr, &CStr, sys::PurpleCmdFlag, Kind); 30] = [
    // In a channel too, for `/me ok` with `/sotto answer …` on a second line (IRC's own `/me`
    // sends there with no signal Sotto sees; found by a read-only review); anything else
    // typed in a channel goes on to IRC's.
    (c"prpl-irc", c"me", c"s", IM_CHAT, Kind::Me),
    (c"prpl-irc", c"version", c"s", IM_CHAT, Kind::OneTarget),
    (c"prpl-irc", c"action", c"s", IM_CHAT, Kind::Me),
    (c"prpl-irc", c"msg", c"ws", IM_CHAT, Kind::Msg),
    (c"prpl-irc", c"query", c"ws", QUERY, Kind::Query),
    (c"prpl-irc", c"notice", c"ws", IM_CHAT, Kind::Refuse),
    (c"prpl-irc", c"ctcp", c"ws", IM_CHAT, Kind::Refuse),
    (c"prpl-jabber", c"msg", c"ws", CHAT, Kind::RoomMsg),
    // slack-libpurple: `/me` goes to Slack's `chat.command`, `/edit` to `chat.update` (it
    // replaces the last line sent, an encrypted one, with plaintext), `/thread` and `/th`
    // post with `slack_conversation_send` directly: none through `send_im`.
    (c"prpl-slack", c"me", c"s", SLACK, Kind::Me),
    (c"prpl-slack", c"shrug", c"s", SLACK, Kind::RefuseHere),
    (c"prpl-slack", c"edit", c"s", SLACK, Kind::RefuseHere),
    (c"prpl-slack", c"thread", c"s", SLACK, Kind::RefuseHere),
    (c"prpl-slack", c"th", c"s", SLACK, Kind::RefuseHere),
    (c"prpl-slack", c"msg", c"s", SLACK, Kind::SlackMsg),
    (c"prpl-slack", c"dm", c"s", SLACK, Kind::SlackMsg),
    (c"prpl-slack", c"remind", c"s", SLACK, Kind::SlackRemind),
    // libpurple's Zephyr sends `/msg` with `zephyr_send_message` (the wire message its
    // `send_im` makes), and `/zir`, `/zcir` to any recipient named; SILC's `/msg` and
    // `/query` call its `send_im` function directly: none through the wrapper or a signal.
    (c"prpl-zephyr", c"msg", c"ws", IM_CHAT, Kind::NamedMsg),
    (c"prpl-zephyr", c"zir", c"wws", IM_CHAT, Kind::RefuseSecond),
    (c"prpl-zephyr", c"zcir", c"wwws", IM_CHAT, Kind::RefuseThird),
    (c"prpl-silc", c"msg", c"ws", IM_CHAT, Kind::NamedMsg),
    (c"prpl-silc", c"query", c"ws", QUERY, Kind::NamedQuery),
    (c"prpl-irc", c"away", c"s", GUARD, Kind::Guard),
    (c"prpl-irc", c"topic", c"s", GUARD, Kind::Guard),
    (c"prpl-irc", c"part", c"s", GUARD, Kind::Guard),
    (c"prpl-irc", c"kick", c"s", GUARD, Kind::Guard),
    (c"prpl-irc", c"remove", c"s", GUARD, Kind::Guard),
    (c"prpl-irc", c"quit", c"s", GUARD, Kind::Guard),
    (c"prpl-irc", c"wallops", c"s", GUARD, Kind::Guard),
    (c"prpl-irc", c"operwall", c"s", GUARD, Kind::Guard),
    (c"prpl-irc", c"nick", c"s", GUARD, Kind::Guard),
];

/// Register the overrides (each unregistered when its guard drops).
pub(crate) fn register() -> Vec<CommandGuard> {
    OVERRIDES
        .iter()
        .filter_map(|(protocol, name, args, flags, kind)| {
            // SAFETY: static strings; `irc_override` has PurpleCmdFunc's signature; the data
            // pointer is a small integer (the kind), never dereferenced.
            let id = unsafe {
                sys::purple_cmd_register(
                    name.as_ptr(),
                    args.as_ptr(),
                    sys::PURPLE_CMD_P_PLUGIN,
                    *flags | sys::PURPLE_CMD_FLAG_PRPL_ONLY,
                    protocol.as_ptr(),
                    Some(direct_override),
                    if *kind == Kind::Guard {
                        c"(Sotto: a /sotto command on a line of the text is not sent)"
                    } else {
                        c"(Sotto: encrypted, or refused, while a session with the target is up)"
                    }
                    .as_ptr(),
                    *kind as usize as *mut c_void,
                )
            };
            (id != 0).then_some(CommandGuard::new(id))
        })
        .collect()
}

/// Whom a Slack command's text reaches.
#[derive(Debug, PartialEq, Eq)]
enum Recipient<'a> {
    /// No contact (the user, a channel, Slack itself).
    Nobody,
    /// This window's contact (a command whose target we cannot tell).
    ThisContact,
    /// The member named `@member`.
    Member(&'a str),
}

/// The recipient of `/msg`, `/dm` (`@member text`) or `/remind` (`@member|me|#channel to …`,
/// `help`, `list`), from the command's one argument. A member's name ends before punctuation
/// ("@bob, hi" is bob).
fn slack_recipient<'a>(kind: Kind, arg: &'a str) -> Recipient<'a> {
    let first = arg.split_whitespace().next().unwrap_or("");
    let member = |word: &'a str| -> &'a str {
        word.trim_start_matches('@')
            .trim_end_matches([',', ':', ';', '.', '!', '?'])
    };
    match kind {
        Kind::SlackRemind if first.starts_with('@') => match member(first) {
            "" => Recipient::ThisContact,
            m => Recipient::Member(m),
        },
        Kind::SlackRemind
            if first.starts_with('#')
                || ["me", "help", "list"]
                    .iter()
                    .any(|w| first.eq_ignore_ascii_case(w)) =>
        {
            Recipient::Nobody
        }
        Kind::SlackRemind => Recipient::ThisContact,
        // `/msg` with no member is Slack's error, no message.
        _ => match member(first) {
            "" => Recipient::Nobody,
            m => Recipient::Member(m),
        },
    }
}

/// The conversation of the Slack member `named` in a command. slack-libpurple names a
/// conversation by the member's username and gives the buddy the display name as its server
/// alias; Slack takes either, whatever the case. Of the conversations it may name (loaded ones
/// Sotto keeps plaintext out of, and the account's buddies, by name, server alias, which a
/// local alias hides from the alias libpurple shows, or that local alias, which Slack does not
/// know but the user may type), the first that would not let plaintext out is the one: its
/// policy and saved state decide, loaded or not (only loaded ones were looked at, so after a
/// restart `/msg @DisplayName` to a contact on "always", or with a saved session, was judged
/// by the display name's own, plaintext, conversation); otherwise the username as typed, in
/// lower case (Slack's usernames are).
fn slack_member(account: *mut sys::PurpleAccount, named: &str) -> Option<ConvRef> {
    let wanted = named.to_lowercase();
    let is_wanted = |a: Option<String>| a.is_some_and(|a| a.to_lowercase() == wanted);
    let loaded = service::protected().into_iter().filter(|r| {
        r.account() == account
            && (r.peer.to_lowercase() == wanted
                || is_wanted(glue::buddy_server_alias(r))
                || is_wanted(glue::buddy_alias(r)))
    });
    // SAFETY: the conversation's account is live.
    let buddies = glue::buddies_named(account, &wanted)
        .into_iter()
        .filter_map(|name| unsafe { ConvRef::from_account(account, &name) });
    let mut named = loaded.chain(buddies);
    // SAFETY: the conversation's account is live.
    let typed = unsafe { ConvRef::from_account(account, &wanted) };
    named.find(|r| !plaintext_ok(r)).or(typed)
}

/// Whether a command of `kind` (its first argument `first`) puts what is typed on the wire to
/// this window's own contact, as a typed line would: the user may believe the window is on
/// another of the contact's conversations (`siblings`). `/me`, Slack's `/shrug`, `/edit`,
/// `/thread`, `/th`, and `/remind` judged by this window's contact; not a command that names
/// its recipient (`/msg nick`, `/msg @member`).
fn typed_here(kind: Kind, first: &str) -> bool {
    match kind {
        Kind::Me | Kind::RefuseHere => true,
        Kind::SlackMsg | Kind::SlackRemind => {
            slack_recipient(kind, first) == Recipient::ThisContact
        }
        _ => false,
    }
}

/// Plaintext may go to `r`: typed text would go out as plaintext too (the sessions service
/// decides, with everything it knows: a renamed contact, a restored backup, a conversation that
/// cannot be restored, held messages; no state at all, a store that cannot be read, is not
/// plaintext).
fn plaintext_ok(r: &ConvRef) -> bool {
    service::plaintext_allowed(r)
}

unsafe extern "C" fn direct_override(
    conv: *mut sys::PurpleConversation,
    cmd: *const c_char,
    args: *mut *mut c_char,
    error: *mut *mut c_char,
    data: *mut c_void,
) -> sys::PurpleCmdRet {
    // A panic must not let the text out in plaintext. Nor lose it: the command failed
    // "for an unknown reason", said the host, and cleared the input box with the text in it;
    // the error gives the command back as typed (found by a read-only review, 2026-12-07).
    ffi_boundary!(
        {
            super::boundary::quietly(|| {
                // SAFETY: the callback's own arguments, still live; `error` is libpurple's
                // out-parameter (NULL checked inside).
                unsafe {
                    set_error(
                        error,
                        &texts::with_command(texts::command_fault(), &typed_command(cmd, args)),
                    )
                };
            });
            sys::PURPLE_CMD_RET_FAILED
        },
        {
            non_null!(conv, sys::PURPLE_CMD_RET_CONTINUE);
            let kind = match data as usize {
                1 => Kind::Me,
                2 => Kind::Msg,
                3 => Kind::Query,
                5 => Kind::RoomMsg,
                6 => Kind::RefuseHere,
                7 => Kind::SlackMsg,
                8 => Kind::SlackRemind,
                9 => Kind::NamedMsg,
                10 => Kind::NamedQuery,
                11 => Kind::RefuseSecond,
                12 => Kind::RefuseThird,
                13 => Kind::OneTarget,
                14 => Kind::Guard,
                _ => Kind::Refuse,
            };
            // SAFETY: live conversation and libpurple's argument vector for this callback.
            let (account, first, second) = unsafe {
                (
                    sys::purple_conversation_get_account(conv),
                    arg(args, 0),
                    arg(args, 1),
                )
            };
            // The command as typed, shown back with a refusal (the input box is cleared).
            // SAFETY: the callback's own arguments.
            let as_typed = unsafe { typed_command(cmd, args) };
            // Where the command names its recipient (Zephyr's `/zir`, `/zcir`: not first).
            let recipient = match kind {
                Kind::RefuseSecond => second.clone(),
                // SAFETY: libpurple's argument vector ("wwws": four arguments).
                Kind::RefuseThird => unsafe { arg(args, 2) },
                _ => first.clone(),
            };
            let name = recipient.trim();
            if kind == Kind::OneTarget {
                if name.split_whitespace().nth(1).is_none() {
                    return sys::PURPLE_CMD_RET_CONTINUE;
                }
                let command = glue::cstr_to_string(cmd).unwrap_or_default();
                // SAFETY: libpurple's error out-parameter.
                unsafe {
                    set_error(
                        error,
                        &texts::with_command(&texts::one_target_only(&command), &as_typed),
                    )
                };
                return sys::PURPLE_CMD_RET_FAILED;
            }
            // `/msg bob /Sotto verify q | a` (or `/notice bob …`): a Sotto command meant for this
            // window, never sent to anyone, in plaintext or not (as a typed line:
            // `commands::mistyped_command`).
            if matches!(
                kind,
                Kind::Msg
                    | Kind::Query
                    | Kind::RoomMsg
                    | Kind::NamedMsg
                    | Kind::NamedQuery
                    | Kind::Refuse
            ) && super::commands::mistyped_command(&second)
            {
                // SAFETY: libpurple's error out-parameter.
                unsafe { set_error(error, &texts::command_not_run(&second)) };
                return sys::PURPLE_CMD_RET_FAILED;
            }
            if kind == Kind::Guard {
                if super::commands::mistyped_command(&first) {
                    // SAFETY: libpurple's error out-parameter.
                    unsafe { set_error(error, &texts::command_not_run(&first)) };
                    return sys::PURPLE_CMD_RET_FAILED;
                }
                return sys::PURPLE_CMD_RET_CONTINUE;
            }
            // `/me ok` with `/sotto answer …` on a second line (Shift+Enter: Pidgin hands the
            // whole entry to the command, and its text keeps the line break), or Slack's one
            // argument: the same.
            if matches!(kind, Kind::Me | Kind::SlackMsg | Kind::SlackRemind)
                && super::commands::mistyped_command(&first)
            {
                // SAFETY: libpurple's error out-parameter.
                unsafe { set_error(error, &texts::command_not_run(&first)) };
                return sys::PURPLE_CMD_RET_FAILED;
            }
            // A line to IRC channels only (`/msg #linux hi`): a room, which Sotto does not
            // encrypt, as a line typed in its window goes (it was taken for a line to the nick
            // `linux`, and refused under `always`: found by a read-only review). Not a `#`
            // name Sotto keeps anything under (`irc_channel_unknown`).
            // SAFETY: the conversation's account is live.
            let room = |t: &str| unsafe { service::irc_channel_unknown(account, t.trim_start()) };
            if matches!(kind, Kind::Msg | Kind::Query | Kind::Refuse)
                && !name.trim().is_empty()
                && name.split(',').all(room)
            {
                return sys::PURPLE_CMD_RET_CONTINUE;
            }
            // IRC's other spellings of a target (RFC 2812 `msgto`: nick!user@host, nick@server,
            // user%host@server) reach a person whose conversation is named by the nick alone: the
            // nick is checked too, and such a spelling of a contact that is not in plaintext is
            // refused (the text would leave in plaintext under the other spelling).
            // So do a nick with channel-mode prefixes (`@bob`): libpurple sends a window's lines
            // to the nick without them.
            if matches!(kind, Kind::Msg | Kind::Query | Kind::Refuse) {
                let typed: Vec<&str> = name.split(',').collect();
                let reached = service::irc_reached(name);
                let spelled_otherwise = reached.into_iter().filter(|n| !typed.contains(n));
                for nick in spelled_otherwise {
                    // SAFETY: the conversation's account is live.
                    let plain = unsafe { ConvRef::from_account(account, nick) }
                        .is_some_and(|r| service::track_name(&r) && plaintext_ok(&r));
                    if !plain {
                        // SAFETY: libpurple's error out-parameter.
                        unsafe {
                            set_error(
                                error,
                                &texts::with_command(
                                    &texts::spelled_target_refused(name, nick),
                                    &as_typed,
                                ),
                            )
                        };
                        return sys::PURPLE_CMD_RET_FAILED;
                    }
                }
            }
            // Zephyr's and SILC's names: SILC folds case and takes `nick@server` (its libpurple
            // protocol has no normalize function, so `Bob` is another conversation than `bob`),
            // and Zephyr's `bob` is `bob@REALM`. Another spelling (lower case, without the part
            // after `@`) that names another conversation not in plaintext is refused: the text
            // would reach that contact in plaintext under this spelling.
            if matches!(kind, Kind::NamedMsg | Kind::NamedQuery) {
                // Every conversation of the account, saved or loaded (after a restart none is
                // loaded yet), whose nick folds the same (`Bob` for `bob`, `bob@server` for `Bob`),
                // when the typed name itself would get plaintext (else it is encrypted anyway).
                // SAFETY: the conversation's account is live.
                let typed = unsafe { ConvRef::from_account(account, name) };
                let twin = typed
                    .filter(|r| service::track_name(r) && plaintext_ok(r))
                    .and_then(|r| service::folded_twin(&r, service::silc_fold));
                if let Some(other) = twin {
                    // SAFETY: libpurple's error out-parameter.
                    unsafe {
                        set_error(
                            error,
                            &texts::with_command(
                                &texts::spelled_target_refused(name, &other),
                                &as_typed,
                            ),
                        )
                    };
                    return sys::PURPLE_CMD_RET_FAILED;
                }
            }
            // IRC sends `/msg a,b text` to each of a and b: every target is checked, and a mix of
            // encrypted and plaintext targets is refused (each needs its own line).
            if matches!(kind, Kind::Msg | Kind::Query | Kind::Refuse) && name.contains(',') {
                let targets: Vec<&str> = name.split(',').filter(|t| !t.is_empty()).collect();
                let all_plain = targets.iter().all(|t| {
                    // A channel is a room: plaintext as its window is.
                    // A renamed window's conversation follows first, as for one target: one that
                    // cannot follow (its move was not saved) is not plaintext under its new name.
                    // SAFETY: the conversation's account is live.
                    room(t)
                        || unsafe { ConvRef::from_account(account, t) }
                            .is_some_and(|r| service::track_name(&r) && plaintext_ok(&r))
                });
                if all_plain {
                    return sys::PURPLE_CMD_RET_CONTINUE;
                }
                // SAFETY: libpurple's error out-parameter.
                unsafe {
                    set_error(
                        error,
                        &texts::with_command(&texts::several_targets_refused(name), &as_typed),
                    )
                };
                return sys::PURPLE_CMD_RET_FAILED;
            }
            let target = match kind {
                // SAFETY: live conversation.
                Kind::Me | Kind::RefuseHere => unsafe { ConvRef::from_conversation(conv) },
                // `@someone text`: the member is the first word, without its `@`.
                Kind::SlackMsg | Kind::SlackRemind => {
                    // The argument as typed: a line break after the member ends the name.
                    match slack_recipient(kind, &first) {
                        Recipient::Nobody => return sys::PURPLE_CMD_RET_CONTINUE,
                        // SAFETY: live conversation.
                        Recipient::ThisContact => unsafe { ConvRef::from_conversation(conv) },
                        Recipient::Member(member) => slack_member(account, member),
                    }
                }
                Kind::RoomMsg => {
                    // The private-chat partner is `room@server/nick`, the room being this chat.
                    // SAFETY: live conversation.
                    let room =
                        glue::cstr_to_string(unsafe { sys::purple_conversation_get_name(conv) });
                    // SAFETY: the conversation's account is live.
                    room.and_then(|room| unsafe {
                        ConvRef::from_account(account, &format!("{room}/{name}"))
                    })
                }
                // SAFETY: the conversation's account is live.
                _ => unsafe { ConvRef::from_account(account, name) },
            };
            let Some(target) = target else {
                return sys::PURPLE_CMD_RET_CONTINUE;
            };
            // A renamed window's conversation follows first; if it cannot, nothing is sent.
            if !service::track_name(&target) {
                let msg = texts::command_not_sent_rename(&Shown::new(&target.peer));
                // SAFETY: libpurple's error out-parameter.
                unsafe { set_error(error, &texts::with_command(&msg, &as_typed)) };
                return sys::PURPLE_CMD_RET_FAILED;
            }
            service::user_acted(&target);
            if plaintext_ok(&target) {
                // A command that puts what is typed on the wire to this window's own contact, in a
                // window another, encrypted, conversation of the contact shares, is held back as a
                // typed line is (`siblings`), and run again if the user confirms.
                if typed_here(kind, &first) {
                    let name = glue::cstr_to_string(cmd).unwrap_or_default();
                    let cmdline = format!("{name} {first}");
                    let held = || HeldLine::Command(SecretString::new(cmdline.clone()));
                    if let Some(refusal) =
                        siblings::held_back(&target, &format!("/{cmdline}"), held)
                    {
                        refusal.tell(&target);
                        return sys::PURPLE_CMD_RET_OK;
                    }
                }
                return sys::PURPLE_CMD_RET_CONTINUE;
            }
            // An `s` argument is the command line as typed, plain text (libpurple's
            // `purple_cmd_parse_args` takes it from the text, not the markup): sent as it is, as
            // the protocol's own command would (stripping it as markup ate "<3 …", "&amp;" and
            // line breaks).
            let text = match kind {
            Kind::Me => format!("/me {first}"),
            Kind::Msg | Kind::Query | Kind::RoomMsg | Kind::NamedMsg | Kind::NamedQuery => {
                second.clone()
            }
            Kind::Refuse
            | Kind::RefuseHere
            | Kind::SlackMsg
            | Kind::SlackRemind
            | Kind::RefuseSecond
            | Kind::RefuseThird
            // (Settled above; refused as the others if they ever came here.)
            | Kind::OneTarget
            | Kind::Guard => {
                let name = glue::cstr_to_string(cmd).unwrap_or_default();
                let peer = Shown::new(&target.peer);
                let msg = match service::unavailable() {
                    Some(why) => texts::command_refused_no_store(&name, &peer, &why),
                    None => texts::irc_command_refused(&name, &peer),
                };
                // SAFETY: libpurple's error out-parameter.
                unsafe { set_error(error, &texts::with_command(&msg, &as_typed)) };
                return sys::PURPLE_CMD_RET_FAILED;
            }
        };
            if matches!(kind, Kind::Query | Kind::NamedQuery) {
                target.conversation_or_new();
                if text.is_empty() {
                    return sys::PURPLE_CMD_RET_OK;
                }
            }
            // SAFETY: `conv` is live for this callback; `error` is libpurple's out-parameter.
            unsafe { send_encrypted(&target, &text, &as_typed, conv, error) }
        }
    )
}

/// The command as typed (`/me waves`), from the callback's name and arguments.
///
/// # Safety
/// `cmd` is NULL or a C string; `args` is libpurple's NULL-terminated argument vector.
unsafe fn typed_command(cmd: *const c_char, args: *mut *mut c_char) -> String {
    let mut line = format!("/{}", glue::cstr_to_string(cmd).unwrap_or_default());
    // ("wwws" at most: four arguments.)
    for word in (0..4)
        // SAFETY: per the caller (`arg` stops at the NULL).
        .map(|i| unsafe { arg(args, i) })
        .take_while(|a| !a.is_empty())
    {
        line.push(' ');
        line.push_str(&word);
    }
    line
}

/// Send `text` to `r` through its session and show it as sent in `r`'s window.
///
/// # Safety
/// `typed_in` must be the live conversation the command was typed in; `error` null or
/// libpurple's error out-parameter.
unsafe fn send_encrypted(
    r: &ConvRef,
    text: &str,
    typed: &str,
    typed_in: *mut sys::PurpleConversation,
    error: *mut *mut c_char,
) -> sys::PurpleCmdRet {
    // (The start that `outgoing` sends may open the window itself.)
    let had_window = !r.conversation().is_null();
    match service::outgoing(r, text) {
        // The policy allowed plaintext after all (e.g. it changed): let IRC's command run.
        Some((Outgoing::Plaintext, fx)) => {
            present::apply(r, fx);
            sys::PURPLE_CMD_RET_CONTINUE
        }
        Some((Outgoing::Lines(lines), mut fx)) => {
            fx.inject.extend(lines);
            // Shown as sent only if its lines went out; otherwise shown back, not lost.
            if present::apply(r, fx) {
                present::show_sent(r, text);
            } else {
                // Typed in another window (`/msg` in a channel): shown back in the contact's
                // own, opened if need be (a line to no window is lost, and the text with it).
                // SAFETY: per the caller.
                unsafe { open_beside(r, had_window, typed_in) };
                r.system_line(&texts::not_sent_offline(text));
            }
            sys::PURPLE_CMD_RET_OK
        }
        Some((Outgoing::Hold, fx)) => {
            // Typed in another window (`/msg` in a room or channel): the line saying the text
            // is held, and the text itself when it goes, show in the contact's own window.
            // SAFETY: per the caller.
            unsafe { open_beside(r, had_window, typed_in) };
            present::apply(r, fx);
            sys::PURPLE_CMD_RET_OK
        }
        None => {
            let msg = texts::command_not_sent_no_store(service::unavailable().as_deref());
            // SAFETY: per the caller.
            unsafe { set_error(error, &texts::with_command(&msg, typed)) };
            sys::PURPLE_CMD_RET_FAILED
        }
    }
}

/// `r`'s own window, opened if need be, for the lines about what a command typed in another
/// window (`typed_in`: `/msg bob …` in a channel) sent or held. A window opened now is opened
/// beside the one typed in, which keeps the keyboard: Finch raises a window made while it
/// handles a key press (`gnt_wm_new_window_real`), so the next line the user typed, meant for
/// the channel, went to the contact (found by a read-only review of Finch). The window typed
/// in is presented again, which raises it back within that key press (`gnt_window_present`).
/// (`/query` opens the contact's window on purpose: not through here.) `had_window`: whether
/// `r` had a window when the command began (the start sent for it may have opened one since).
///
/// # Safety
/// `typed_in` must be a live conversation.
unsafe fn open_beside(r: &ConvRef, had_window: bool, typed_in: *mut sys::PurpleConversation) {
    let made = r.conversation_or_new();
    // (`typed_in` is a channel or a room, most often: not an IM.)
    if !had_window && !made.is_null() && made != typed_in && glue::still_listed(typed_in) {
        // SAFETY: in libpurple's open conversations just now.
        unsafe { sys::purple_conversation_present(typed_in) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command that puts what is typed on the wire to this window's own contact is held
    /// back beside an encrypted conversation of the contact as a typed line is: `/me`, and
    /// slack-libpurple's `/shrug`, `/edit`, `/thread`, `/th` and `/remind` judged by this
    /// window's contact (only `/me` was); commands that name their recipient are not.
    #[test]
    fn commands_to_this_windows_contact_are_guarded_as_typed_lines() {
        let kind_of = |protocol: &str, name: &str| {
            OVERRIDES
                .iter()
                .find(|(p, n, ..)| p.to_str() == Ok(protocol) && n.to_str() == Ok(name))
                .map(|(.., k)| *k)
                .expect("overridden")
        };
        for (protocol, name, first) in [
            ("prpl-irc", "me", "waves"),
            ("prpl-irc", "action", "waves"),
            ("prpl-slack", "me", "waves"),
            ("prpl-slack", "shrug", "fine"),
            ("prpl-slack", "edit", "the code is 4711"),
            ("prpl-slack", "thread", "the code is 4711"),
            ("prpl-slack", "th", "the code is 4711"),
            ("prpl-slack", "remind", "to call in 5 minutes"),
            ("prpl-slack", "remind", "@ to call in 5 minutes"),
        ] {
            assert!(
                typed_here(kind_of(protocol, name), first),
                "{protocol} /{name} {first}"
            );
        }
        for (protocol, name, first) in [
            ("prpl-irc", "msg", "bob"),
            ("prpl-irc", "query", "bob"),
            ("prpl-slack", "msg", "@bob hi"),
            ("prpl-slack", "dm", "@bob hi"),
            ("prpl-slack", "remind", "@bob to call"),
            ("prpl-slack", "remind", "me to call"),
            ("prpl-slack", "remind", "#general to call"),
        ] {
            assert!(
                !typed_here(kind_of(protocol, name), first),
                "{protocol} /{name} {first}"
            );
        }
    }

    /// Every command of libpurple 2.14's own protocols that puts text for a person on the wire
    /// past `send_im` (read in its sources: `purple_cmd_register` in `irc/cmds.c` via
    /// `irc.c`, `jabber/jabber.c`, `zephyr/zephyr.c`, `silc/silc.c`; no other built-in
    /// protocol registers one) is overridden, with the arguments the protocol registers.
    #[test]
    fn every_builtin_command_that_sends_past_send_im_is_overridden() {
        let has = |protocol: &str, name: &str, args: &str| {
            OVERRIDES.iter().any(|(p, n, a, _, _)| {
                p.to_str() == Ok(protocol) && n.to_str() == Ok(name) && a.to_str() == Ok(args)
            })
        };
        for (protocol, name, args) in [
            ("prpl-irc", "me", "s"),
            ("prpl-irc", "action", "s"),
            ("prpl-irc", "msg", "ws"),
            ("prpl-irc", "query", "ws"),
            ("prpl-irc", "notice", "ws"),
            ("prpl-irc", "ctcp", "ws"),
            ("prpl-irc", "version", "s"),
            ("prpl-jabber", "msg", "ws"),
            ("prpl-zephyr", "msg", "ws"),
            ("prpl-zephyr", "zir", "wws"),
            ("prpl-zephyr", "zcir", "wwws"),
            ("prpl-silc", "msg", "ws"),
            ("prpl-silc", "query", "ws"),
        ] {
            assert!(has(protocol, name, args), "{protocol} /{name} ({args})");
        }
    }

    #[test]
    fn a_slack_commands_text_goes_to_the_member_it_names_or_to_this_contact() {
        use Recipient::*;
        for (kind, arg, want) in [
            (Kind::SlackMsg, "@bob hi there", Member("bob")),
            (Kind::SlackMsg, "@bob, hi there", Member("bob")),
            (Kind::SlackMsg, "bob: hi", Member("bob")),
            (Kind::SlackMsg, "", Nobody),
            (Kind::SlackMsg, "@ hi", Nobody),
            (
                Kind::SlackRemind,
                "@bob to pay the rent in 5 minutes",
                Member("bob"),
            ),
            (Kind::SlackRemind, "@bob: to pay the rent", Member("bob")),
            (Kind::SlackRemind, "me to call the bank at 5pm", Nobody),
            (Kind::SlackRemind, "Me to call", Nobody),
            (Kind::SlackRemind, "#general to stand up at 10", Nobody),
            (Kind::SlackRemind, "list", Nobody),
            (Kind::SlackRemind, "help", Nobody),
            (Kind::SlackRemind, "to pay the rent tomorrow", ThisContact),
            (Kind::SlackRemind, "@ to pay", ThisContact),
            (Kind::SlackRemind, "", ThisContact),
        ] {
            assert_eq!(slack_recipient(kind, arg), want, "{arg:?}");
        }
    }
}
