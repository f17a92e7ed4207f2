import { createElement } from 'lwc';
import SocialdeskThread from 'c/socialdeskThread';
import { getRecord } from 'lightning/uiRecordApi';
import { getRelatedListRecords } from 'lightning/uiRelatedListApi';

// Records in the shape Lightning Data Service hands a wire (User Interface API).
function caseRecord(fields) {
    const out = {};
    for (const [name, value] of Object.entries(fields)) {
        out[name] = { value, displayValue: null };
    }
    return { apiName: 'Case', id: '500000000000001AAA', fields: out };
}

let seq = 0;
function comment(body, published, createdDate, id) {
    seq += 1;
    return {
        apiName: 'CaseComment',
        id: id || `00a0000000009${String(seq).padStart(2, '0')}AAA`,
        fields: {
            CommentBody: { value: body, displayValue: null },
            IsPublished: { value: published, displayValue: null },
            CreatedDate: { value: createdDate, displayValue: null }
        }
    };
}

function related(records, nextPageToken = null) {
    return { records, count: records.length, nextPageToken, currentPageToken: '0', previousPageToken: null };
}

// What socialdesk writes (sync/ingest/composer.py, sync/mirror/poster.py).
const FB_DM_OPENING = [
    'Hi, my order #123 never arrived',
    '',
    '\u2014',
    '@dana (Dana Smith) on Facebook',
    'Direct message \u00b7 Facebook message m_1',
    'Posted 2026-03-01 09:30 UTC'
].join('\n');
const FB_DM_FOLLOW_UP = [
    'Any news? <script>alert(1)</script>',
    '',
    '\u2014',
    '@dana (Dana Smith) on Facebook',
    'Direct message \u00b7 Facebook message m_2',
    'Posted 2026-03-01 10:00 UTC'
].join('\n');
const X_OPENING = [
    '@acme my parcel is late',
    '',
    '\u2014',
    '@fay on X \u00b7 1,204 followers',
    'https://x.com/fay/status/1790000000000000001',
    'Posted 2026-03-01 09:00 UTC',
    'Metrics: like 3 \u00b7 reply 1'
].join('\n');

const ANSWER_POSTED = '00a000000000011AAA';
const ANSWER_APPROVAL = '00a000000000012AAA';
const ANSWER_FAILED = '00a000000000013AAA';
const ANSWER_WINDOW = '00a000000000014AAA';
const ANSWER_WAITING = '00a000000000015AAA';

function dmCase() {
    return caseRecord({
        Social_Post_Id__c: 'facebook:m_1',
        Social_Network__c: 'facebook',
        Social_Post_Url__c: null,
        Social_Tags__c: 'socialdesk social_dm',
        Description: FB_DM_OPENING,
        CreatedDate: '2026-03-01T09:31:02.000Z'
    });
}

function dmComments() {
    return related([
        // Out of order on purpose: the thread is ordered by time, not by the list's order.
        comment(FB_DM_FOLLOW_UP, true, '2026-03-01T10:00:40.000Z'),
        comment('Sorry Dana, we are checking with the courier.', true, '2026-03-01T09:40:00.000Z', ANSWER_POSTED),
        comment(`socialdesk posted this reply on Facebook as a direct message: m_r1 [comment ${ANSWER_POSTED}]`,
            false, '2026-03-01T09:40:30.000Z'),
        comment('Called the warehouse, they will call back.', false, '2026-03-01T09:45:00.000Z'),
        comment('We can refund you right away.', true, '2026-03-01T10:05:00.000Z', ANSWER_APPROVAL),
        comment('socialdesk is holding this reply until a lead approves it: add the tag approved to the ticket ' +
            `and it goes out. [comment ${ANSWER_APPROVAL}]`, false, '2026-03-01T10:05:30.000Z'),
        comment('Here is the tracking link.', true, '2026-03-01T10:06:00.000Z', ANSWER_FAILED),
        comment('socialdesk could not post this reply on Facebook: RetriableError: Graph API 500 (code 2). ' +
            `It is kept; retry it with 'socialdesk failed retry out-7'. [comment ${ANSWER_FAILED}]`,
            false, '2026-03-01T10:06:30.000Z'),
        comment('Are you still there?', true, '2026-03-09T12:00:00.000Z', ANSWER_WINDOW),
        comment('socialdesk is holding this reply: the customer last wrote 8.1 days ago; Facebook lets a business ' +
            'answer privately within 24 hours, and a person within 7 days. It goes out by itself if the customer ' +
            'writes again. To reach them now, answer them publicly on one of their posts or comments. ' +
            `[comment ${ANSWER_WINDOW}]`, false, '2026-03-09T12:00:30.000Z'),
        comment('One more thing.', true, '2026-03-09T12:01:00.000Z', ANSWER_WAITING)
    ]);
}

const flush = () => Promise.resolve().then(() => Promise.resolve());

function mount() {
    const element = createElement('c-socialdesk-thread', { is: SocialdeskThread });
    element.recordId = '500000000000001AAA';
    document.body.appendChild(element);
    return element;
}

function texts(node, selector) {
    return [...node.querySelectorAll(selector)].map((e) => e.textContent.trim());
}

describe('c-socialdesk-thread', () => {
    let now;

    beforeEach(() => {
        now = Date.parse('2026-03-01T20:00:00.000Z');
        jest.spyOn(Date, 'now').mockImplementation(() => now);
        // LWC reports template mistakes (duplicate keys, bad bindings) on console.error.
        jest.spyOn(console, 'error');
    });

    afterEach(() => {
        expect(console.error).not.toHaveBeenCalled();
        while (document.body.firstChild) {
            document.body.removeChild(document.body.firstChild);
        }
        jest.restoreAllMocks();
    });

    it('reads the case and its comments through the UI API, no Apex', async () => {
        mount();
        await flush();
        const config = getRelatedListRecords.getLastConfig();
        expect(config.parentRecordId).toBe('500000000000001AAA');
        expect(config.relatedListId).toBe('CaseComments');
        expect(config.fields).toEqual(
            expect.arrayContaining(['CaseComment.CommentBody', 'CaseComment.IsPublished', 'CaseComment.CreatedDate'])
        );
        const fields = getRecord.getLastConfig().fields.map((f) => `${f.objectApiName}.${f.fieldApiName}`);
        expect(fields).toEqual(expect.arrayContaining([
            'Case.Social_Post_Id__c', 'Case.Social_Network__c', 'Case.Social_Post_Url__c', 'Case.Description'
        ]));
    });

    it('shows the customer post, then each reply with what became of it, in time order', async () => {
        const element = mount();
        getRecord.emit(dmCase());
        getRelatedListRecords.emit(dmComments());
        await flush();

        const root = element.shadowRoot;
        expect(root.querySelector('.network').textContent).toBe('Facebook');
        expect(root.querySelector('.handle').textContent).toBe('@dana');
        expect(root.querySelector('.dm')).not.toBeNull();

        const items = [...root.querySelectorAll('li.item')];
        expect(items.map((li) => li.querySelector('.text').textContent)).toEqual([
            'Hi, my order #123 never arrived',
            'Sorry Dana, we are checking with the courier.',
            'Any news? <script>alert(1)</script>',
            'We can refund you right away.',
            'Here is the tracking link.',
            'Are you still there?',
            'One more thing.'
        ]);
        // The customer's words are text: nothing they wrote becomes markup.
        expect(root.querySelector('script')).toBeNull();
        // The agent's internal note is not part of the thread.
        expect(root.textContent).not.toContain('Called the warehouse');
        // socialdesk's own notes are shown as the status of the reply they name, not as messages.
        expect(root.textContent).not.toContain('[comment ');

        const status = (i) => items[i].querySelector('.status');
        expect(items[0].querySelector('.status')).toBeNull();
        expect(status(1).textContent).toBe('Posted');
        expect(items[1].querySelector('.reason').textContent).toBe('on Facebook as a direct message');
        expect(texts(items[1], '.reply-id')).toEqual(['m_r1']);
        expect(status(3).textContent).toBe('Held');
        expect(items[3].querySelector('.reason').textContent).toBe(
            "waiting for a lead's approval: add the tag approved to the case and it goes out"
        );
        expect(status(4).textContent).toBe('Failed');
        expect(items[4].querySelector('.reason').textContent).toBe('RetriableError: Graph API 500 (code 2)');
        expect(items[4].querySelector('.retry code').textContent).toBe('socialdesk failed retry out-7');
        expect(status(5).textContent).toBe('Held');
        expect(items[5].querySelector('.reason').textContent).toContain('the customer last wrote 8.1 days ago');
        expect(status(6).textContent).toBe('Not posted yet');
        expect(status(6).className).toContain('status-waiting');
    });

    it('gives the messaging-window deadline from the customer\'s last message', async () => {
        const element = mount();
        getRecord.emit(dmCase());
        getRelatedListRecords.emit(dmComments());
        await flush();
        const box = element.shadowRoot.querySelector('.window');
        expect(box.className).toContain('window-open');
        // Last customer message: Posted 2026-03-01 10:00 UTC; Meta: 24 hours, a person 7 days.
        expect(box.querySelector('.deadline').value).toBe('2026-03-02T10:00:00.000Z');
        expect(box.querySelector('.human-deadline').value).toBe('2026-03-08T10:00:00.000Z');
        expect(box.textContent).toContain('Facebook allows 24 hours');
    });

    it('says when only a person may answer, and when the window has closed', async () => {
        now = Date.parse('2026-03-03T08:00:00.000Z');
        const element = mount();
        getRecord.emit(dmCase());
        getRelatedListRecords.emit(dmComments());
        await flush();
        let box = element.shadowRoot.querySelector('.window');
        expect(box.className).toContain('window-human');
        expect(box.textContent).toContain('HUMAN_AGENT');
        expect(box.querySelector('.deadline').value).toBe('2026-03-08T10:00:00.000Z');

        document.body.removeChild(element);
        now = Date.parse('2026-03-08T10:00:01.000Z');
        const later = mount();
        getRecord.emit(dmCase());
        getRelatedListRecords.emit(dmComments());
        await flush();
        box = later.shadowRoot.querySelector('.window');
        expect(box.className).toContain('window-closed');
        expect(box.textContent).toContain('until the customer writes again');
    });

    it('moves the deadline on while the page stays open', async () => {
        jest.useFakeTimers({ doNotFake: ['Date', 'queueMicrotask', 'nextTick'] });
        try {
            const element = mount();
            getRecord.emit(dmCase());
            getRelatedListRecords.emit(dmComments());
            await flush();
            expect(element.shadowRoot.querySelector('.window').className).toContain('window-open');
            now = Date.parse('2026-03-02T10:00:01.000Z');
            jest.advanceTimersByTime(60 * 1000);
            await flush();
            expect(element.shadowRoot.querySelector('.window').className).toContain('window-human');
        } finally {
            jest.useRealTimers();
        }
    });

    it('public threads: a guard\'s hold says why, posted replies link to the post, no window', async () => {
        const element = mount();
        getRecord.emit(caseRecord({
            Social_Post_Id__c: 'x:1790000000000000001',
            Social_Network__c: 'x',
            Social_Post_Url__c: 'https://x.com/fay/status/1790000000000000001',
            Social_Tags__c: 'socialdesk social_mention',
            Description: X_OPENING,
            CreatedDate: '2026-03-01T09:00:20.000Z'
        }));
        getRelatedListRecords.emit(related([
            comment('Mail us at help@acme.example', true, '2026-03-01T09:10:00.000Z', '00a000000000021AAA'),
            comment("socialdesk could not post this reply on X: held: the reply seems to contain an email address; " +
                'answer again without it, or move the conversation to a direct message. It is kept; retry it with ' +
                "'socialdesk failed retry out-3'. [comment 00a000000000021AAA]", false, '2026-03-01T09:10:20.000Z'),
            // The note names the comment by its 15-character id: still the same comment.
            comment('Sorry! It ships today.', true, '2026-03-01T09:12:00.000Z', '00a000000000022AAA'),
            comment('socialdesk posted this reply on X in the thread: https://x.com/acme/status/1790000000000000009, ' +
                'javascript:alert(1) [comment 00a000000000022]', false, '2026-03-01T09:12:20.000Z')
        ]));
        await flush();
        const root = element.shadowRoot;
        expect(root.querySelector('.window')).toBeNull();
        expect(root.querySelector('.dm')).toBeNull();
        expect(root.querySelector('.post-link').href).toBe('https://x.com/fay/status/1790000000000000001');
        expect(root.querySelector('.post-link').textContent).toBe('Open on X');

        const items = [...root.querySelectorAll('li.item')];
        expect(items[0].querySelector('.text').textContent).toBe('@acme my parcel is late');
        expect(items[1].querySelector('.status').textContent).toBe('Held');
        expect(items[1].querySelector('.reason').textContent).toBe(
            'the reply seems to contain an email address; answer again without it, or move the conversation ' +
            'to a direct message'
        );
        expect(items[2].querySelector('.status').textContent).toBe('Posted');
        expect(items[2].querySelector('.reason').textContent).toBe('on X in the thread');
        const links = [...items[2].querySelectorAll('a.reply-link')].map((a) => a.getAttribute('href'));
        expect(links).toEqual(['https://x.com/acme/status/1790000000000000009']);
        // Only https links become links; anything else stays text.
        expect(texts(items[2], '.reply-id')).toEqual(['javascript:alert(1)']);
    });

    it('a later note wins: held for approval, then posted once approved', async () => {
        const element = mount();
        getRecord.emit(dmCase());
        getRelatedListRecords.emit(related([
            comment('Refund sent.', true, '2026-03-01T10:00:00.000Z', '00a000000000031AAA'),
            comment('socialdesk posted this reply on Facebook as a direct message (tag HUMAN_AGENT): m_r9 ' +
                '[comment 00a000000000031AAA]', false, '2026-03-01T11:00:00.000Z'),
            comment('socialdesk is holding this reply until a lead approves it: add the tag approved to the ticket ' +
                'and it goes out. [comment 00a000000000031AAA]', false, '2026-03-01T10:00:30.000Z')
        ]));
        await flush();
        const reply = element.shadowRoot.querySelectorAll('li.item')[1];
        expect(reply.querySelector('.status').textContent).toBe('Posted');
        expect(reply.querySelector('.reason').textContent).toBe('on Facebook as a direct message (tag HUMAN_AGENT)');
    });

    it('a case that did not come from socialdesk says so', async () => {
        const element = mount();
        getRecord.emit(caseRecord({
            Social_Post_Id__c: null, Social_Network__c: null, Social_Post_Url__c: null,
            Social_Tags__c: null, Description: 'Printer on fire', CreatedDate: '2026-03-01T09:00:00.000Z'
        }));
        getRelatedListRecords.emit(related([]));
        await flush();
        expect(element.shadowRoot.querySelector('.not-social')).not.toBeNull();
        expect(element.shadowRoot.querySelector('li.item')).toBeNull();
    });

    it('shows what could not be read instead of an empty thread', async () => {
        const element = mount();
        getRecord.error({ message: 'No access to field Social_Post_Id__c' });
        getRelatedListRecords.emit(related([]));
        await flush();
        expect(element.shadowRoot.querySelector('.error').textContent).toContain(
            'No access to field Social_Post_Id__c'
        );
        expect(element.shadowRoot.querySelector('li.item')).toBeNull();
    });

    it('waits for both reads before it draws, and says when comments are left out', async () => {
        const element = mount();
        getRecord.emit(dmCase());
        await flush();
        expect(element.shadowRoot.querySelector('.loading')).not.toBeNull();
        getRelatedListRecords.emit(related(dmComments().records, 'token-2'));
        await flush();
        expect(element.shadowRoot.querySelector('.loading')).toBeNull();
        expect(element.shadowRoot.querySelector('.more')).not.toBeNull();
    });
});
