//! Fail-closed send path: every protocol plugin's `send_im` is wrapped.
//!
//! `sending-im-msg` sees what the user types, but text also leaves through `serv_send_im`
//! directly, with no signal: away auto-replies, other plugins. The wrapper sits under all of them.
//! It lets through (a) lines we inject ourselves ([`super::state::Injecting`]) and (b) the exact text our
//! `sending-im-msg` handler approved a moment earlier (`State::allow_next`). Anything else is run
//! through the session like a typed message: encrypted when a session is up, held when policy
//! says so, and only sent unchanged when the policy allows plaintext to that peer.
//!
//! Each protocol gets a copy of the wrapper of its own ([`COPIES`]), which calls what it went on
//! top of: another plugin may wrap `send_im` on top of ours, and ours then goes on top of that
//! one again (at the next `plugin-unload`, or at Sotto's next load), so several copies of ours
//! can sit in one chain, each calling its own function.
//!
//! What each copy on top went on top of is put back on unload ([`SendImWraps`]'s `Drop`).

use std::ffi::{c_char, c_int};

use crate::protocol::wire::WireMessage;
use crate::sessions::Outgoing;

use super::bindings as sys;
use super::boundary::{ffi_boundary, non_null};
use super::glue::{self, cstr_to_string, ConvRef};
use super::state::{self, with_state, SendIm};
use super::{echo, fragsize, present, service, texts};

/// The protocol-info struct of a protocol plugin, or NULL.
///
/// # Safety
/// `plugin` must be null or a live `PurplePlugin`.
unsafe fn prpl_info(plugin: *mut sys::PurplePlugin) -> *mut sys::PurplePluginProtocolInfo {
    if plugin.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: a live plugin's `info` is NULL or its static info; `extra_info` of a protocol plugin
    // is its PurplePluginProtocolInfo (libpurple's PURPLE_PLUGIN_PROTOCOL_INFO macro).
    unsafe {
        let info = (*plugin).info;
        if info.is_null() || (*info).type_ != sys::PURPLE_PLUGIN_PROTOCOL {
            return std::ptr::null_mut();
        }
        (*info).extra_info.cast()
    }
}

/// # Safety
/// `plugin` must be null or a live `PurplePlugin`.
unsafe fn plugin_id(plugin: *mut sys::PurplePlugin) -> Option<String> {
    if plugin.is_null() {
        return None;
    }
    // SAFETY: per the caller.
    unsafe {
        let info = (*plugin).info;
        if info.is_null() {
            return None;
        }
        cstr_to_string((*info).id)
    }
}

/// Wrap one protocol plugin's `send_im` (idempotent).
///
/// # Safety
/// `plugin` must be null or a live `PurplePlugin`.
pub(crate) unsafe fn wrap(plugin: *mut sys::PurplePlugin) {
    // SAFETY: per the caller.
    let (info, id) = unsafe { (prpl_info(plugin), plugin_id(plugin)) };
    let Some(id) = id else { return };
    if info.is_null() {
        return;
    }
    // A second copy of a protocol plugin under an id another plugin already holds (loaded only
    // to be destroyed, its library closed): never wrapped, so its `send_im` never replaces the
    // live plugin's original.
    let cid = glue::cstring(&id);
    // SAFETY: a valid C string; libpurple returns NULL or a live plugin.
    let live = unsafe { sys::purple_find_prpl(cid.as_ptr()) };
    if !live.is_null() && live != plugin {
        return;
    }
    // SAFETY: `info` is the protocol's static protocol info; libpurple reads `send_im` from it on
    // every send, on this same thread.
    unsafe {
        let Some(top) = (*info).send_im else { return };
        // A copy of ours on top already (put back there by another plugin, maybe), or the
        // function that refuses every send when no copy was left.
        if copy_number(top).is_some_and(|k| state::copy_on_top(k, &id))
            || top as usize == no_copy_left as SendIm as usize
        {
            return;
        }
        // The protocol's own function, or another plugin's wrapper (it may call a copy of
        // ours, left in its chain when Sotto was unloaded or when it went on top of ours):
        // wrapped all the same, so nothing bypasses Sotto (Sotto hears of no load or unload
        // while unloaded, so it cannot know whether a copy of ours is in that chain); a call
        // coming back up into a copy lower down goes on to what that copy calls
        // (`wrapped_send_im`).
        match state::hand_out_copy(id.clone(), top) {
            Some(k) => (*info).send_im = Some(COPIES[k]),
            None => {
                glue::debug_error(
                    "send_im wrapper: every copy is in a chain; this protocol refuses every send",
                );
                state::refuse_for(id, top);
                (*info).send_im = Some(no_copy_left);
            }
        }
    }
}

/// Wrap every protocol loaded now. Protocols loaded later are wrapped from `plugin-load`.
pub(crate) fn wrap_all() -> SendImWraps {
    wrap_each();
    SendImWraps { _private: () }
}

/// Wraps every protocol loaded now where our wrapper is not on top: also after another plugin
/// unloads (`plugin-unload`), which may have put back the `send_im` it found before ours and
/// so taken ours out of the chain.
pub(crate) fn wrap_each() {
    // SAFETY: each plugin is live for the call.
    for_each_protocol(|plugin| unsafe { wrap(plugin) });
}

/// Calls `f` with each protocol plugin loaded now (each live for that call).
fn for_each_protocol(mut f: impl FnMut(*mut sys::PurplePlugin)) {
    // SAFETY: the list and its plugins are owned by libpurple and live for this call; `f` does
    // not load or unload plugins.
    unsafe {
        let mut l = sys::purple_plugins_get_protocols();
        while !l.is_null() {
            f((*l).data.cast());
            l = (*l).next;
        }
    }
}

/// Takes each copy of ours on top out of its chain when dropped (plugin unload): what it went
/// on top of goes back (another plugin's wrapper, which may call a copy of ours lower down:
/// that copy stays, passing calls on while Sotto is unloaded, to what it calls).
pub(crate) struct SendImWraps {
    _private: (),
}

impl Drop for SendImWraps {
    fn drop(&mut self) {
        // SAFETY: each plugin is live for the call (`for_each_protocol`); we only write back the
        // pointer a copy of ours replaced.
        for_each_protocol(|plugin| unsafe {
            let info = prpl_info(plugin);
            let (false, Some(id), Some(top)) = (info.is_null(), plugin_id(plugin), (*info).send_im)
            else {
                return;
            };
            let back = if top as usize == no_copy_left as SendIm as usize {
                state::take_refused(&id)
            } else {
                // Another plugin's wrapper on top (it wrapped after us and calls a copy of
                // ours): left alone; the copy it calls passes calls on.
                copy_number(top).and_then(|k| state::give_back_copy(k, &id))
            };
            if let Some(back) = back {
                (*info).send_im = Some(back);
            }
        });
    }
}

/// The copies of our wrapper: copy `K` is [`wrapped_send_im`] calling what copy `K` went on
/// top of (`state::copy_calls`). Each is a function of its own, at an address of its own.
///
/// # Safety
/// libpurple's `send_im` arguments.
unsafe extern "C" fn copy<const K: usize>(
    gc: *mut sys::PurpleConnection,
    who: *const c_char,
    message: *const c_char,
    flags: sys::PurpleMessageFlags,
) -> c_int {
    // SAFETY: the caller's arguments, passed on; `wrapped_send_im` runs its whole body behind
    // the panic boundary, so nothing unwinds out of this `extern "C"` function.
    unsafe { wrapped_send_im(K, gc, who, message, flags) }
}

macro_rules! copies {
    ($($k:literal)*) => {
        [$(copy::<$k> as SendIm),*]
    };
}

/// Every copy of our wrapper, by number.
static COPIES: [SendIm; state::COPIES] = copies!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19
    20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39
    40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59
    60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79
    80 81 82 83 84 85 86 87 88 89 90 91 92 93 94 95 96 97 98 99
    100 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115 116 117 118 119
    120 121 122 123 124 125 126 127 128 129 130 131 132 133 134 135 136 137 138 139
    140 141 142 143 144 145 146 147 148 149 150 151 152 153 154 155 156 157 158 159
    160 161 162 163 164 165 166 167 168 169 170 171 172 173 174 175 176 177 178 179
    180 181 182 183 184 185 186 187 188 189 190 191 192 193 194 195 196 197 198 199
    200 201 202 203 204 205 206 207 208 209 210 211 212 213 214 215 216 217 218 219
    220 221 222 223 224 225 226 227 228 229 230 231 232 233 234 235 236 237 238 239
    240 241 242 243 244 245 246 247 248 249 250 251 252 253 254 255 256 257 258 259
    260 261 262 263 264 265 266 267 268 269 270 271 272 273 274 275 276 277 278 279
    280 281 282 283 284 285 286 287 288 289 290 291 292 293 294 295 296 297 298 299
    300 301 302 303 304 305 306 307 308 309 310 311 312 313 314 315 316 317 318 319
    320 321 322 323 324 325 326 327 328 329 330 331 332 333 334 335 336 337 338 339
    340 341 342 343 344 345 346 347 348 349 350 351 352 353 354 355 356 357 358 359
    360 361 362 363 364 365 366 367 368 369 370 371 372 373 374 375 376 377 378 379
    380 381 382 383 384 385 386 387 388 389 390 391 392 393 394 395 396 397 398 399
    400 401 402 403 404 405 406 407 408 409 410 411 412 413 414 415 416 417 418 419
    420 421 422 423 424 425 426 427 428 429 430 431 432 433 434 435 436 437 438 439
    440 441 442 443 444 445 446 447 448 449 450 451 452 453 454 455 456 457 458 459
    460 461 462 463 464 465 466 467 468 469 470 471 472 473 474 475 476 477 478 479
    480 481 482 483 484 485 486 487 488 489 490 491 492 493 494 495 496 497 498 499
    500 501 502 503 504 505 506 507 508 509 510 511 512 513 514 515 516 517 518 519
    520 521 522 523 524 525 526 527 528 529 530 531 532 533 534 535 536 537 538 539
    540 541 542 543 544 545 546 547 548 549 550 551 552 553 554 555 556 557 558 559
    560 561 562 563 564 565 566 567 568 569 570 571 572 573 574 575 576 577 578 579
    580 581 582 583 584 585 586 587 588 589 590 591 592 593 594 595 596 597 598 599
    600 601 602 603 604 605 606 607 608 609 610 611 612 613 614 615 616 617 618 619
    620 621 622 623 624 625 626 627 628 629 630 631 632 633 634 635 636 637 638 639
    640 641 642 643 644 645 646 647 648 649 650 651 652 653 654 655 656 657 658 659
    660 661 662 663 664 665 666 667 668 669 670 671 672 673 674 675 676 677 678 679
    680 681 682 683 684 685 686 687 688 689 690 691 692 693 694 695 696 697 698 699
    700 701 702 703 704 705 706 707 708 709 710 711 712 713 714 715 716 717 718 719
    720 721 722 723 724 725 726 727 728 729 730 731 732 733 734 735 736 737 738 739
    740 741 742 743 744 745 746 747 748 749 750 751 752 753 754 755 756 757 758 759
    760 761 762 763 764 765 766 767 768 769 770 771 772 773 774 775 776 777 778 779
    780 781 782 783 784 785 786 787 788 789 790 791 792 793 794 795 796 797 798 799
    800 801 802 803 804 805 806 807 808 809 810 811 812 813 814 815 816 817 818 819
    820 821 822 823 824 825 826 827 828 829 830 831 832 833 834 835 836 837 838 839
    840 841 842 843 844 845 846 847 848 849 850 851 852 853 854 855 856 857 858 859
    860 861 862 863 864 865 866 867 868 869 870 871 872 873 874 875 876 877 878 879
    880 881 882 883 884 885 886 887 888 889 890 891 892 893 894 895 896 897 898 899
    900 901 902 903 904 905 906 907 908 909 910 911 912 913 914 915 916 917 918 919
    920 921 922 923 924 925 926 927 928 929 930 931 932 933 934 935 936 937 938 939
    940 941 942 943 944 945 946 947 948 949 950 951 952 953 954 955 956 957 958 959
    960 961 962 963 964 965 966 967 968 969 970 971 972 973 974 975 976 977 978 979
    980 981 982 983 984 985 986 987 988 989 990 991 992 993 994 995 996 997 998 999
    1000 1001 1002 1003 1004 1005 1006 1007 1008 1009 1010 1011 1012 1013 1014 1015 1016 1017 1018 1019
    1020 1021 1022 1023
);

/// A protocol's `send_im` when no copy of our wrapper was left for it (every one in a chain,
/// see `state::COPIES`): nothing is sent, rather than sent unseen.
unsafe extern "C" fn no_copy_left(
    _gc: *mut sys::PurpleConnection,
    _who: *const c_char,
    _message: *const c_char,
    _flags: sys::PurpleMessageFlags,
) -> c_int {
    ffi_boundary!(-libc::EINVAL, {
        glue::debug_error("send_im wrapper: no copy left for this protocol; not sending");
        -libc::EINVAL
    })
}

/// The number of the copy of our wrapper `f` is, if it is one.
fn copy_number(f: SendIm) -> Option<usize> {
    COPIES.iter().position(|&c| c as usize == f as usize)
}

/// The id of a live connection's protocol.
fn protocol_of(gc: *mut sys::PurpleConnection) -> Option<String> {
    // SAFETY: `gc` is a live connection (checked by the caller); its prpl is a live plugin.
    unsafe { plugin_id(sys::purple_connection_get_prpl(gc)) }
}

/// A typed message's last line on its way through [`wrapped_send_im`] (`TYPED_IN_FLIGHT`).
struct InFlight {
    /// The call's connection.
    gc: usize,
    /// The call's recipient.
    who: String,
    /// The connection refused the line (it did not leave).
    refused: bool,
    /// The line the call was handed.
    line: String,
    /// What was typed.
    typed: crate::protocol::SecretString,
}

thread_local! {
    /// Whether the call [`wrapped_send_im`] is in has handed its line to what it wraps: a
    /// fault after that (in the bookkeeping) must not report a line that left as refused.
    static HANDED_DOWN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// What was typed, while [`wrapped_send_im`] sends its approved last line and shows what
    /// came of it: the only copy of the text once the approval is taken (the input box is
    /// empty, and the line handed down is ciphertext), for the fault line to give back. With
    /// the connection and the line of that call: only a fault in that call takes it, not one
    /// in a call made meanwhile (another plugin's note to someone else, a piece of the line
    /// cut smaller, the copy for another client; a review of the first version).
    static TYPED_IN_FLIGHT: std::cell::RefCell<Option<InFlight>> =
        const { std::cell::RefCell::new(None) };
    /// The last line of Sotto's that a protocol refused as too large, since
    /// [`take_size_refusal`] last looked.
    static SIZE_REFUSED: std::cell::Cell<Option<fragsize::Refusal>> =
        const { std::cell::Cell::new(None) };
}

/// Whether a line of Sotto's was refused as too large (`-E2BIG`) since the last look, and what
/// its protocol's lines are cut to now ([`fragsize::Caps::refused`]); forgets it.
pub(crate) fn take_size_refusal() -> Option<fragsize::Refusal> {
    SIZE_REFUSED.with(std::cell::Cell::take)
}

/// [`take_size_refusal`] without forgetting it.
pub(crate) fn size_refusal() -> Option<fragsize::Refusal> {
    SIZE_REFUSED.with(std::cell::Cell::get)
}

/// `protocol` refused our line of `len` characters as too large: its lines are cut smaller
/// from now on, and the refusal is kept for [`take_size_refusal`] (with two since it looked,
/// the longer line and the newest cap).
fn refused_as_too_large(protocol: &str, len: usize) {
    let Some(refusal) = with_state(|s| s.line_caps.refused(protocol, len)) else {
        return;
    };
    glue::debug_warning(&format!(
        "{protocol} refused a line of {len} characters as too large; lines now cut to {:?}",
        refusal.cut_to
    ));
    SIZE_REFUSED.with(|c| {
        let merged = match c.get() {
            Some(before) => fragsize::Refusal {
                refused: before.refused.max(refusal.refused),
                cut_to: refusal.cut_to,
            },
            None => refusal,
        };
        c.set(Some(merged));
    });
}

/// For the end-to-end test of a fault while a long message's pieces go out: panics when the
/// line being handed down is a piece (`?S1P`) whose index reads as `SOTTO_TEST_PANIC_AT_PIECE`
/// (its two base64url digits, e.g. `AB` for the second; read from the process environment,
/// unset in any real use; read once per process).
#[allow(clippy::panic)]
fn test_panic_at_piece(line: &str) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| {
        std::env::var("SOTTO_TEST_PANIC_AT_PIECE")
            .ok()
            .filter(|v| v.len() == 2)
    });
    if let Some(index) = at {
        if line.starts_with("?S1P") && line.get(8..10) == Some(index.as_str()) {
            panic!("SOTTO_TEST_PANIC_AT_PIECE: a panic handing a piece down, on purpose");
        }
    }
}

/// For the end-to-end test of a fault after a typed message's last line was handed down:
/// panics when what was typed is `SOTTO_TEST_PANIC_AFTER_SENDING` (read from the process
/// environment, unset in any real use; read once per process).
#[allow(clippy::panic)]
fn test_panic_after_sending(typed: Option<&str>) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| std::env::var("SOTTO_TEST_PANIC_AFTER_SENDING").ok());
    if at.is_some() && at.as_deref() == typed {
        panic!("SOTTO_TEST_PANIC_AFTER_SENDING: a panic after a typed line went, on purpose");
    }
}

/// What copy `k` of our wrapper, a protocol's `send_im`, does. Never inlined: each copy stays
/// a call to it with its number (inlined, a copy of this body in each).
///
/// # Safety
/// libpurple's `send_im` arguments.
#[inline(never)]
unsafe fn wrapped_send_im(
    k: usize,
    gc: *mut sys::PurpleConnection,
    who: *const c_char,
    message: *const c_char,
    flags: sys::PurpleMessageFlags,
) -> c_int {
    // A panic here must not send. A line the user typed (or another plugin's) is reported
    // "not sent" as 0, which libpurple shows nothing for, so the window says it, with the text.
    // A line of Sotto's own (`Injecting` is restored while unwinding) is refused when the
    // fault came before it was handed down: its caller reads the code, and with 0 took a piece
    // of a long message for sent, sent the rest and showed the message as sent. After it was
    // handed down, it left: 0. A typed message's last line (ciphertext: the fault line would
    // have no text to give back) is said with what was typed (`TYPED_IN_FLIGHT`), and, once
    // the line was handed down, as gone then (it was said NOT sent, and typed again it
    // arrived twice; a review of the first version).
    ffi_boundary!(
        {
            let (line, to) = (cstr_to_string(message), cstr_to_string(who));
            let typed = TYPED_IN_FLIGHT.with(|t| {
                // (Never borrowed here after the unwinding; a fault default must not panic.)
                let Ok(mut t) = t.try_borrow_mut() else {
                    return None;
                };
                let ours = t.as_ref().is_some_and(|f| {
                    f.gc == gc as usize
                        && line.as_ref() == Some(&f.line)
                        && to.as_ref() == Some(&f.who)
                });
                if ours {
                    t.take()
                } else {
                    None
                }
            });
            let left = HANDED_DOWN.with(std::cell::Cell::get);
            if !gc.is_null() {
                // SAFETY: the callback's own arguments, still live (NULL checked inside).
                unsafe {
                    super::signals::not_sent_after_a_fault(
                        sys::purple_connection_get_account(gc),
                        who,
                        message,
                        typed
                            .as_ref()
                            .map(|f| (f.typed.as_str(), left && !f.refused)),
                    )
                };
            }
            if state::is_injecting() && !HANDED_DOWN.with(std::cell::Cell::get) {
                -libc::EIO
            } else {
                0
            }
        },
        {
            HANDED_DOWN.with(|h| h.set(false));
            non_null!(gc, -libc::EINVAL);
            non_null!(who, -libc::EINVAL);
            non_null!(message, -libc::EINVAL);
            let Some(orig) = protocol_of(gc).and_then(|id| state::copy_calls(k, &id)) else {
                glue::debug_error(
                    "send_im wrapper: nothing to call for this protocol; not sending",
                );
                return -libc::EINVAL;
            };
            let (who_s, text) = (
                cstr_to_string(who).unwrap_or_default(),
                cstr_to_string(message).unwrap_or_default(),
            );
            // Called back from below a copy of ours handing this call down: another plugin's
            // wrapper that it calls calls this copy (it went on top of this one, and a copy of
            // ours on top of it since). The text was decided on the way down: on to what this
            // copy calls.
            match state::coming_back(k, gc as usize, &who_s, &text) {
                state::Back::No => {}
                state::Back::Once(_going_on) => {
                    // SAFETY: what this copy went on top of, with the arguments libpurple gave
                    // us.
                    return unsafe { orig(gc, who, message, flags) };
                }
                state::Back::Again => {
                    glue::debug_error(
                        "send_im wrapper: a call came back up again (wrappers in a loop); not sending",
                    );
                    return -libc::EINVAL;
                }
            }
            // `ours`: a line of Sotto's, followed through IRC's rate limiter; plaintext that only
            // looks like one (pasted by the user) is not.
            let pass = |ours: bool| {
                let handing = if ours {
                    // SAFETY: the live connection of this call.
                    unsafe { super::pace::handing(gc, &who_s, &text) }
                } else {
                    None
                };
                let rc = {
                    let _below = state::Passing::enter(gc as usize, &who_s, &text);
                    // SAFETY: what this copy went on top of, with the arguments libpurple gave
                    // us.
                    unsafe { orig(gc, who, message, flags) }
                };
                HANDED_DOWN.with(|h| h.set(true));
                // SAFETY: the same call: its connection is live.
                unsafe { super::pace::handed(handing, rc) };
                if ours && rc == -libc::E2BIG {
                    if let Some(id) = protocol_of(gc) {
                        refused_as_too_large(&id, text.len());
                    }
                }
                rc
            };
            // Our own lines, or the plugin is unloaded but another wrapper still calls us.
            if !state::is_loaded() {
                return pass(false);
            }
            if state::is_injecting() {
                test_panic_at_piece(&text);
                let rc = {
                    let _below = state::Injecting::handed_down();
                    pass(true)
                };
                // Its echo, if the protocol writes one, is ours: hidden.
                echo::passed(&text, rc, true);
                return rc;
            }
            // SAFETY: live connection.
            let account = unsafe { sys::purple_connection_get_account(gc) };
            let Some(peer) = cstr_to_string(who) else {
                not_shown_as_sent(&text, flags);
                return -libc::EINVAL;
            };
            // SAFETY: the connection's account is live.
            let Some(r) = (unsafe { ConvRef::from_account(account, &peer) }) else {
                not_shown_as_sent(&text, flags);
                return -libc::EINVAL;
            };
            // The contact was renamed and its conversation could not follow: nothing goes (the
            // window said why, once), and an auto-reply is not shown as sent either. A caller
            // that wrote the text as sent before calling (a buddy pounce) or writes nothing
            // (another plugin) had it look sent, or vanish, without a word: the windows under
            // this name say it was NOT sent, with the text (found by a review of the paths
            // other protocols and plugins take, 2026-12-06).
            if !service::track_name(&r) {
                not_shown_as_sent(&text, flags);
                if flags & sys::PURPLE_MESSAGE_AUTO_RESP == 0 {
                    let line = texts::not_sent(&glue::markup_to_text(&text));
                    // The window libpurple's lookup by name finds too (a pounce wrote its text
                    // there), whose exact name may differ (IRC `Bob` for `bob`).
                    let mut windows = glue::ims_named(&r);
                    let found = r.conversation();
                    if !found.is_null() && !windows.contains(&found) {
                        windows.push(found);
                    }
                    if windows.is_empty() {
                        r.conversation_or_new();
                        r.system_line(&line);
                    }
                    // Each checked again before its write (a line may have another closed).
                    for w in windows.into_iter().filter(|&w| glue::still_open(w)) {
                        // SAFETY: in libpurple's list of open IMs just now, and still open.
                        unsafe { glue::system_line_to(w, &line) };
                    }
                }
                return 0;
            }
            let key = r.key();
            // Only the send an approval is for takes it (below: its line, or that line
            // changed on its way): another plugin's send in between (its `sending-im-msg`
            // handler after ours calling `serv_send_im`, to another name or with a note of its
            // own to this one) took it, and the typed line, arriving without it, was refused
            // as a Sotto line sent again, its text lost (found by a hostile review).
            let is_for = |a: &state::Approval| {
                a.covers(&key, &text)
                    || (a.key == key
                        && a.typed.is_some()
                        && (text.contains(a.text.as_str())
                            || (a.fresh()
                                && flags & sys::PURPLE_MESSAGE_SEND != 0
                                && flags & sys::PURPLE_MESSAGE_AUTO_RESP == 0)))
            };
            let pending = with_state(|s| {
                if s.allow_next.as_ref().is_some_and(is_for) {
                    s.allow_next.take()
                } else {
                    None
                }
            });
            let (approval, changed_on_its_way) = match pending.flatten() {
                Some(a) if a.covers(&key, &text) => (Some(a), None),
                // The last line of a message typed here, made by our `sending-im-msg` a
                // moment ago, that reaches the connection late or changed: another plugin's
                // handler after ours held it (a dialog) or rewrote it (a signature after
                // it, markup around it or inside it), whoever hands it down (it carries the
                // line Sotto made: nobody else has it). Within the approval's second nothing
                // else of this conversation's that libpurple's send of typed text makes
                // (`common_send` flags it `SEND`) comes here (libpurple calls `send_im` right
                // after the handlers): whatever it carries, it is that message. An auto-reply,
                // a buddy pounce or another plugin's `serv_send_im` in that second (after a
                // handler that cancelled the typed message) is its own message: it was dropped
                // as the typed one "changed on its way" (found by a read-only review).
                Some(a) => (None, a.typed),
                None => (None, None),
            };
            // Plaintext only while the conversation still is: a session that came up since (within
            // the approval's second) encrypts an identical later text.
            let approved = approval.filter(|a| {
                !a.plaintext
                    || service::conv_state(&r) == Some(crate::protocol::ConvState::Plaintext)
            });
            if let Some(approved) = approved {
                let _ = take_size_refusal();
                TYPED_IN_FLIGHT.with(|t| {
                    *t.borrow_mut() = approved.typed.clone().map(|typed| InFlight {
                        gc: gc as usize,
                        who: who_s.clone(),
                        refused: false,
                        line: text.clone(),
                        typed,
                    });
                });
                let rc = pass(!approved.plaintext);
                TYPED_IN_FLIGHT.with(|t| {
                    if let Some(f) = t.borrow_mut().as_mut() {
                        f.refused = rc < 0;
                    }
                });
                test_panic_after_sending(approved.typed.as_ref().map(|t| t.as_str()));
                // Whether libpurple shows the typed text (rc > 0) or the protocol's echo will (0).
                echo::passed(&text, rc, false);
                // The protocol refused the typed message's last line: libpurple writes nothing of
                // the text (at most "Unable to send message"), and the input box is empty. Said
                // NOT sent, with the text, so nothing typed is lost.
                if let (true, Some(typed)) = (rc < 0, approved.typed.as_ref()) {
                    r.conversation_or_new();
                    // Refused as too large, a message of one line: the same line in smaller
                    // pieces, shown as sent by Sotto once they went. 0, "sent, the protocol
                    // shows it": libpurple's "message is too large" would contradict the window.
                    let too_large = take_size_refusal();
                    if let Some(refusal) = too_large {
                        if present::cut_and_send(&r, &text, refusal) {
                            present::show_sent(&r, typed);
                            present::send_elsewhere(&r, &approved.elsewhere);
                            TYPED_IN_FLIGHT.with(|t| t.borrow_mut().take());
                            return 0;
                        }
                    }
                    // Pieces of it may have left before: a not-read notice for them must not
                    // send it again by itself once the user has it back.
                    service::forget_sent_record(&r, typed);
                    r.system_line(&texts::not_sent_refused(typed, too_large.is_some()));
                }
                // The contact's other clients get the message only once this client's went.
                if rc >= 0 {
                    present::send_elsewhere(&r, &approved.elsewhere);
                }
                TYPED_IN_FLIGHT.with(|t| t.borrow_mut().take());
                return rc;
            }
            // Not sent (a changed line is unreadable, a late one no longer approved), and
            // not lost: libpurple writes the typed text as sent only when the protocol took
            // it (a changed line used to go out encrypted again as a message of its own, the
            // contact shown a raw line, and the window said the typed text was sent); the
            // window says NOT sent, with it.
            if let Some(typed) = changed_on_its_way {
                // Pieces of it before this line may have left: a not-read notice for them
                // must not have it sent again by itself, after the user typed it again.
                service::forget_sent_text(&r, &typed);
                not_shown_as_sent(&text, flags);
                r.conversation_or_new();
                r.system_line(&texts::changed_on_its_way(&typed));
                return 0;
            }
            // Not from our send path: an auto-reply or another plugin. Run it through the session.
            let plain = glue::markup_to_text(&text);
            // A line of Sotto's own, caught on its way out by another plugin and sent again later
            // as text (Offline Message Emulation keeps it as a buddy pounce): encrypting it would
            // show the contact a raw line, and what it carried cannot be read back. Not sent.
            if matches!(
                WireMessage::decode(&plain),
                Ok(WireMessage::Data(_) | WireMessage::Fragment(_))
            ) {
                not_shown_as_sent(&text, flags);
                r.conversation_or_new();
                r.system_line(texts::resent_wire_line());
                return 0;
            }
            match service::outgoing(&r, &plain) {
                Some((Outgoing::Plaintext, fx)) => {
                    present::apply(&r, fx);
                    pass(false)
                }
                Some((Outgoing::Lines(lines), mut fx)) => {
                    fx.inject.extend(lines);
                    // Sent only if the connection took every line: a caller that shows what it
                    // sends (rc > 0) must not show a message that did not leave.
                    if present::apply(&r, fx) {
                        // A caller that shows what it sent (libpurple's auto-reply) writes it next.
                        // Only that one: a marker left by a caller that writes nothing (another
                        // plugin's `serv_send_im`) would let plaintext from another device, written
                        // as sent within its two seconds, pass without its warning.
                        if flags & sys::PURPLE_MESSAGE_AUTO_RESP != 0 {
                            echo::writing_sent(&r);
                        }
                        1
                    } else {
                        not_shown_as_sent(&text, flags);
                        // Pieces of it may have left: a not-read notice for them must not send
                        // it again by itself.
                        service::forget_sent_record(&r, &plain);
                        // A caller that wrote the text as sent before calling (a buddy pounce)
                        // or writes nothing (another plugin) had it look sent, or vanish,
                        // without a word: the window says it was NOT sent, with the text (an
                        // auto-reply's write is cancelled above; it was no one's typing; found
                        // by a read-only review).
                        if flags & sys::PURPLE_MESSAGE_AUTO_RESP == 0 {
                            let too_large = take_size_refusal().is_some();
                            r.conversation_or_new();
                            r.system_line(&texts::not_sent_refused(&plain, too_large));
                        }
                        0
                    }
                }
                Some((Outgoing::Hold, fx)) => {
                    not_shown_as_sent(&text, flags);
                    present::apply(&r, fx);
                    0
                }
                None => {
                    glue::debug_error("send_im wrapper: no session state; not sending");
                    not_shown_as_sent(&text, flags);
                    // A caller that wrote the text as sent before calling (Pidgin's and Finch's
                    // buddy pounces; their one-shot pounce is gone once it fired) must not leave
                    // it looking sent: the window says it was not, with the text. (An
                    // auto-reply's write is cancelled above.)
                    if flags & sys::PURPLE_MESSAGE_AUTO_RESP == 0 {
                        r.conversation_or_new();
                        r.system_line(&texts::refused_no_state(
                            texts::Refused::Send,
                            service::unavailable().as_deref(),
                        ));
                        r.system_line(&texts::not_sent(&plain));
                    }
                    0
                }
            }
        }
    )
}

/// `text`, an auto-reply when `flags` say so, did not go out (held, or refused): libpurple
/// writes an auto-reply into the window as sent whatever `send_im` returned, so that write is
/// cancelled (a held one is shown when it goes).
fn not_shown_as_sent(text: &str, flags: sys::PurpleMessageFlags) {
    if flags & sys::PURPLE_MESSAGE_AUTO_RESP != 0 {
        echo::auto_reply_held(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every copy of our wrapper is a function at an address of its own (two at one address
    /// would be one copy calling two functions), and is known as ours.
    #[test]
    fn every_copy_is_a_function_of_its_own() {
        let mut seen = std::collections::HashSet::new();
        for (k, &f) in COPIES.iter().enumerate() {
            assert!(seen.insert(f as usize), "copy {k} shares an address");
            assert_eq!(copy_number(f), Some(k));
        }
    }
}
