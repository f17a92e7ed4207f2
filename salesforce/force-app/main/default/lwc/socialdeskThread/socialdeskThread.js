import { LightningElement, api, wire } from 'lwc';
import { getRecord, getFieldValue } from 'lightning/uiRecordApi';
import { getRelatedListRecords } from 'lightning/uiRelatedListApi';
import POST_ID from '@salesforce/schema/Case.Social_Post_Id__c';
import NETWORK from '@salesforce/schema/Case.Social_Network__c';
import POST_URL from '@salesforce/schema/Case.Social_Post_Url__c';
import DESCRIPTION from '@salesforce/schema/Case.Description';
import CREATED_DATE from '@salesforce/schema/Case.CreatedDate';
import { buildThread } from './thread';

// Read through Lightning Data Service (User Interface API): no Apex, no callout; what an
// agent may not read is an error shown in the card, not a blank. Custom fields named here
// are declared in plugin_manifest.json's helpdesk_fields (tests/unit/test_package_salesforce.py).
const CASE_FIELDS = [POST_ID, NETWORK, POST_URL, DESCRIPTION, CREATED_DATE];
// CaseComments is Case's child relationship; the related-list wire returns at most 1,999 a page.
const COMMENT_FIELDS = ['CaseComment.CommentBody', 'CaseComment.IsPublished', 'CaseComment.CreatedDate'];
const COMMENT_PAGE_SIZE = 1999;
// The messaging-window deadline moves from open to closed while the page stays open.
const TICK_MS = 60 * 1000;

const STATUS_LABELS = {
    posted: 'Posted',
    held: 'Held',
    failed: 'Failed',
    waiting: 'Not posted yet'
};

const DATE_FORMAT = { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' };

export default class SocialdeskThread extends LightningElement {
    @api recordId;

    caseRecord;
    caseError;
    comments;
    commentsError;
    moreComments = false;
    now = Date.now();
    dateFormat = DATE_FORMAT;

    @wire(getRecord, { recordId: '$recordId', fields: CASE_FIELDS })
    wiredCase({ data, error }) {
        this.caseRecord = data;
        this.caseError = error;
    }

    @wire(getRelatedListRecords, {
        parentRecordId: '$recordId',
        relatedListId: 'CaseComments',
        fields: COMMENT_FIELDS,
        sortBy: ['CaseComment.CreatedDate'],
        pageSize: COMMENT_PAGE_SIZE
    })
    wiredComments({ data, error }) {
        this.commentsError = error;
        this.comments = data
            ? data.records.map((r) => ({
                  id: r.id,
                  body: value(r, 'CommentBody'),
                  published: value(r, 'IsPublished') === true,
                  createdDate: value(r, 'CreatedDate')
              }))
            : undefined;
        this.moreComments = Boolean(data && data.nextPageToken);
    }

    connectedCallback() {
        this.now = Date.now();
        // eslint-disable-next-line @lwc/lwc/no-async-operation
        this.timer = setInterval(() => {
            this.now = Date.now();
        }, TICK_MS);
    }

    disconnectedCallback() {
        clearInterval(this.timer);
    }

    get loading() {
        return !this.errorMessage && (!this.caseRecord || !this.comments);
    }

    get errorMessage() {
        const error = this.caseError || this.commentsError;
        return error ? `socialdesk's thread could not be read: ${describe(error)}` : null;
    }

    get thread() {
        if (!this.caseRecord || !this.comments) {
            return null;
        }
        const kase = {
            postId: getFieldValue(this.caseRecord, POST_ID),
            network: getFieldValue(this.caseRecord, NETWORK),
            postUrl: getFieldValue(this.caseRecord, POST_URL),
            description: getFieldValue(this.caseRecord, DESCRIPTION),
            createdDate: getFieldValue(this.caseRecord, CREATED_DATE)
        };
        return buildThread(kase, this.comments, this.now);
    }

    get notSocial() {
        const thread = this.thread;
        return Boolean(thread && !thread.fromSocialdesk);
    }

    get social() {
        const thread = this.thread;
        return thread && thread.fromSocialdesk ? thread : null;
    }

    get openLabel() {
        const thread = this.social;
        return thread ? `Open on ${thread.networkName || 'the network'}` : '';
    }

    get handleLabel() {
        const thread = this.social;
        return thread && thread.handle ? `@${thread.handle}` : '';
    }

    get items() {
        const thread = this.social;
        if (!thread) {
            return [];
        }
        return thread.items.map((item) => {
            const customer = item.kind === 'customer';
            const status = customer ? null : item.status;
            return {
                ...item,
                customer,
                itemClass: `item item-${customer ? 'customer' : 'reply'} slds-p-around_x-small slds-m-bottom_x-small`,
                who: customer ? this.handleLabel || 'Customer' : 'Agent',
                statusLabel: status ? STATUS_LABELS[status] : null,
                statusClass: status ? `status status-${status} slds-badge` : null,
                hasLinks: Boolean(item.links && item.links.length)
            };
        });
    }

    get messaging() {
        const thread = this.social;
        const w = thread ? thread.window : null;
        if (!w) {
            return null;
        }
        return {
            ...w,
            open: w.state === 'open',
            human: w.state === 'human',
            closed: w.state === 'closed',
            boxClass: `window window-${w.state} slds-box slds-box_x-small slds-m-bottom_small`
        };
    }
}

function value(record, field) {
    const f = record.fields && record.fields[field];
    return f ? f.value : undefined;
}

/** The message of a Lightning Data Service error (a FetchResponse) or of any other error. */
function describe(error) {
    if (error && error.body) {
        if (Array.isArray(error.body)) {
            return error.body.map((e) => e.message).join(', ');
        }
        if (error.body.message) {
            return error.body.message;
        }
    }
    return (error && (error.message || error.statusText)) || 'unknown error';
}
