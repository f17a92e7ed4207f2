/*
 * What the social thread of a Case is, read from what socialdesk wrote on it:
 * the Case's Description (the post that opened it), published CaseComments in
 * socialdesk's message format (the customer's later posts), and socialdesk's
 * internal notes, each naming the agent comment it is about with
 * "[comment <CaseComment Id>]". Pure functions: no Salesforce module here.
 */

// Network keys of Case.Social_Network__c and the names socialdesk writes in its notes.
export const NETWORK_NAMES = { x: 'X', facebook: 'Facebook', instagram: 'Instagram' };

// Networks whose private messages may be answered only for a while after the customer's
// last message (Meta's Messenger and Instagram messaging policy): a business within 24 hours,
// a person, with the HUMAN_AGENT tag, within 7 days. socialdesk holds a reply past both.
export const WINDOWS = {
    facebook: { standardHours: 24, humanAgentDays: 7 },
    instagram: { standardHours: 24, humanAgentDays: 7 }
};

const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;
const SIGNATURE = '\n\n\u2014\n';
const POSTED = /^Posted (\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}) UTC$/;
const AUTHOR = /^@(\S+)(?: \((.*)\))? on (.+?)(?: \u00b7 .*)?$/;
const DIRECT = 'Direct message \u00b7 ';
const COMMENT_REF = /\s*\[comment ([A-Za-z0-9:]+)\]\s*$/;

// The notes socialdesk writes after each attempt at an agent's reply (sync/mirror/poster.py).
const NOTE_POSTED = /^socialdesk posted this reply on (.+?) (in the thread|as a direct message|as a Private Reply to the comment)( \(tag [^)]+\))?: ([\s\S]*)$/;
const NOTE_APPROVAL = /^socialdesk is holding this reply until a lead approves it: add the tag (\S+) to the ticket and it goes out\.$/;
const NOTE_WINDOW = /^socialdesk is holding this reply: ([\s\S]+?)\. It goes out by itself if the customer writes again\.[\s\S]*$/;
const NOTE_FAILED = /^socialdesk could not post this reply on (.+?): ([\s\S]+)\. It is kept; retry it with '([^']+)'\.$/;

/** A link socialdesk or the Case gives, if it is one a browser may open safely (https only). */
export function safeUrl(value) {
    if (typeof value !== 'string') {
        return null;
    }
    const url = value.trim();
    return /^https:\/\/[^\s/?#]+[^\s]*$/i.test(url) ? url : null;
}

/** "2026-03-01 09:30" (UTC) from socialdesk's "Posted" line as an ISO time. */
function postedIso(line) {
    const m = POSTED.exec(line);
    return m ? `${m[1]}T${m[2]}:00.000Z` : null;
}

/**
 * A customer's message in socialdesk's format: the post as written, a line "—", then
 * "@handle (Name) on Network", the link or id (after "Direct message · " for a DM),
 * media, "Posted ... UTC" and more. Null when ``body`` is not in that format.
 */
export function parseMessage(body) {
    if (typeof body !== 'string') {
        return null;
    }
    const at = body.lastIndexOf(SIGNATURE);
    if (at < 0) {
        return null;
    }
    const lines = body.slice(at + SIGNATURE.length).split('\n');
    const author = AUTHOR.exec(lines[0] || '');
    if (!author) {
        return null;
    }
    const marker = lines[1] || '';
    const dm = marker.startsWith(DIRECT);
    const where = dm ? marker.slice(DIRECT.length) : marker;
    let postedAt = null;
    for (const line of lines.slice(2)) {
        postedAt = postedAt || postedIso(line);
    }
    return {
        text: body.slice(0, at),
        handle: author[1],
        name: author[2] || null,
        networkName: author[3],
        dm,
        url: safeUrl(where),
        postedAt
    };
}

/**
 * One of socialdesk's notes about an agent's reply: which comment, and what became of it.
 * Null for any other comment (an agent's own note, socialdesk's other notes).
 */
export function parseNote(body) {
    if (typeof body !== 'string' || !body.startsWith('socialdesk ')) {
        return null;
    }
    const ref = COMMENT_REF.exec(body);
    if (!ref) {
        return null;
    }
    const text = body.slice(0, ref.index).trim();
    const note = { commentId: ref[1], status: null, reason: null, links: [], retry: null };
    let m = NOTE_POSTED.exec(text);
    if (m) {
        note.status = 'posted';
        note.reason = `on ${m[1]} ${m[2]}${m[3] || ''}`;
        note.links = m[4]
            .split(', ')
            .map((part) => part.trim())
            .filter((part) => part);
        return note;
    }
    m = NOTE_APPROVAL.exec(text);
    if (m) {
        note.status = 'held';
        note.reason = `waiting for a lead's approval: add the tag ${m[1]} to the case and it goes out`;
        return note;
    }
    m = NOTE_WINDOW.exec(text);
    if (m) {
        note.status = 'held';
        note.reason = `${m[1]}; it goes out by itself if the customer writes again`;
        return note;
    }
    m = NOTE_FAILED.exec(text);
    if (m) {
        // A guard's hold (personal data, a stale thread) reaches the agent as "held: why".
        const held = m[2].startsWith('held: ');
        note.status = held ? 'held' : 'failed';
        note.reason = held ? m[2].slice('held: '.length) : m[2];
        note.retry = m[3];
        return note;
    }
    return null;
}

/** Case and CaseComment ids match on their case-sensitive 15-character form. */
function sameId(a, b) {
    return typeof a === 'string' && typeof b === 'string' && a.slice(0, 15) === b.slice(0, 15);
}

function time(value) {
    const t = value ? Date.parse(value) : NaN;
    return Number.isNaN(t) ? null : t;
}

/**
 * Whether a direct message may still go out, and until when. Null where the network has
 * no such window, the conversation is not a direct message, or no customer message is dated.
 */
export function messagingWindow(network, dm, lastCustomerAt, now) {
    const rules = WINDOWS[network];
    const last = time(lastCustomerAt);
    if (!rules || !dm || last === null) {
        return null;
    }
    const standardEnds = last + rules.standardHours * HOUR;
    const humanEnds = last + rules.humanAgentDays * DAY;
    let state = 'closed';
    if (now <= standardEnds) {
        state = 'open';
    } else if (now <= humanEnds) {
        state = 'human';
    }
    return {
        state,
        networkName: NETWORK_NAMES[network] || network,
        standardHours: rules.standardHours,
        humanAgentDays: rules.humanAgentDays,
        lastCustomerAt: new Date(last).toISOString(),
        standardEndsAt: new Date(standardEnds).toISOString(),
        humanEndsAt: new Date(humanEnds).toISOString()
    };
}

/**
 * The thread of one Case.
 * ``kase``: {postId, network, postUrl, description, createdDate};
 * ``comments``: [{id, body, published, createdDate}] in any order; ``now``: ms since the epoch.
 */
export function buildThread(kase, comments, now) {
    const sorted = [...(comments || [])].sort(
        (a, b) => (time(a.createdDate) || 0) - (time(b.createdDate) || 0) || String(a.id).localeCompare(String(b.id))
    );
    const opening = parseMessage(kase.description);
    const items = [];
    // In the order written on the Case (its Comments list's order); a customer message shows
    // when it was posted, and the messaging window runs from that.
    items.push({
        key: 'opening',
        kind: 'customer',
        text: opening ? opening.text : kase.description || '',
        at: (opening && opening.postedAt) || kase.createdDate || null,
        url: (opening && opening.url) || safeUrl(kase.postUrl)
    });
    let dm = Boolean(opening && opening.dm);
    const notes = [];
    const replies = [];
    for (const c of sorted) {
        if (!c.published) {
            const note = parseNote(c.body);
            if (note) {
                notes.push({ ...note, at: c.createdDate || null });
            }
            continue;
        }
        const message = parseMessage(c.body);
        if (message) {
            dm = dm || message.dm;
            items.push({
                key: c.id,
                kind: 'customer',
                text: message.text,
                at: message.postedAt || c.createdDate || null,
                url: message.url
            });
        } else {
            const reply = { key: c.id, kind: 'reply', text: c.body || '', at: c.createdDate || null,
                status: 'waiting', reason: null, links: [], retry: null, statusAt: null };
            replies.push(reply);
            items.push(reply);
        }
    }
    // The latest note about a reply says what became of it (held, then posted once approved).
    for (const note of notes) {
        const reply = replies.find((r) => sameId(r.key, note.commentId));
        if (reply) {
            Object.assign(reply, { status: note.status, reason: note.reason, retry: note.retry,
                statusAt: note.at, links: note.links.map((l) => ({ href: safeUrl(l), label: l })) });
        }
    }
    const customerTimes = items.filter((i) => i.kind === 'customer').map((i) => time(i.at)).filter((t) => t !== null);
    const last = customerTimes.length ? new Date(Math.max(...customerTimes)).toISOString() : null;
    const network = kase.network || null;
    return {
        fromSocialdesk: Boolean(kase.postId),
        network,
        networkName: NETWORK_NAMES[network] || network,
        handle: opening ? opening.handle : null,
        postUrl: safeUrl(kase.postUrl),
        dm,
        items,
        window: messagingWindow(network, dm, last, now)
    };
}
