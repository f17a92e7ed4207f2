// The component drawing Cases the socialdesk daemon really wrote on its sandbox org:
// tests/system/test_lwc.py runs the daemon, reads the Cases and their CaseComments back in
// the shape Lightning Data Service hands a wire, and names the file here with what each
// thread must show. Without that file (a plain jest run) this suite says it was skipped.
import { createElement } from 'lwc';
import SocialdeskThread from 'c/socialdeskThread';
import { getRecord } from 'lightning/uiRecordApi';
import { getRelatedListRecords } from 'lightning/uiRelatedListApi';

const FIXTURE = process.env.SOCIALDESK_SANDBOX_THREADS;
// eslint-disable-next-line no-undef
const threads = FIXTURE ? JSON.parse(require('fs').readFileSync(FIXTURE, 'utf8')) : [];

const flush = () => Promise.resolve().then(() => Promise.resolve());

describe('c-socialdesk-thread on sandbox cases', () => {
    afterEach(() => {
        while (document.body.firstChild) {
            document.body.removeChild(document.body.firstChild);
        }
        jest.restoreAllMocks();
    });

    if (!threads.length) {
        it.skip('needs SOCIALDESK_SANDBOX_THREADS (tests/system/test_lwc.py)', () => {});
        return;
    }

    it.each(threads.map((t) => [t.name, t]))('%s', async (name, thread) => {
        jest.spyOn(Date, 'now').mockImplementation(() => thread.now);
        jest.spyOn(console, 'error');
        const element = createElement('c-socialdesk-thread', { is: SocialdeskThread });
        element.recordId = thread.case.id;
        document.body.appendChild(element);
        getRecord.emit(thread.case);
        getRelatedListRecords.emit(thread.comments);
        await flush();

        const root = element.shadowRoot;
        expect(root.querySelector('.error')).toBeNull();
        const items = [...root.querySelectorAll('li.item')];
        const shown = items.map((li) => ({
            kind: li.className.includes('item-customer') ? 'customer' : 'reply',
            status: li.querySelector('.status') ? li.querySelector('.status').textContent : null,
            text: li.querySelector('.text').textContent,
            reason: li.querySelector('.reason') ? li.querySelector('.reason').textContent : ''
        }));
        expect(shown.map((s) => [s.kind, s.status])).toEqual(thread.expect.map((e) => [e.kind, e.status]));
        thread.expect.forEach((e, i) => {
            if (e.contains) {
                expect(`${shown[i].text}\n${shown[i].reason}`).toContain(e.contains);
            }
        });
        // socialdesk's notes never show as messages.
        expect(root.textContent).not.toContain('[comment ');
        expect(console.error).not.toHaveBeenCalled();
    });
});
