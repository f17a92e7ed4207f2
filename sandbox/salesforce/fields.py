"""Describe metadata: the fields of each sObject the stand-in knows."""
from __future__ import annotations

from typing import Any, Iterable

from sandbox.salesforce.constants import COMMENT_BYTES


FIELD_KEYS = (
    "aggregatable", "aiPredictionField", "autoNumber", "byteLength", "calculated", "calculatedFormula",
    "cascadeDelete", "caseSensitive", "compoundFieldName", "controllerName", "createable", "custom",
    "defaultValue", "defaultValueFormula", "defaultedOnCreate", "dependentPicklist",
    "deprecatedAndHidden", "digits", "displayLocationInDecimal", "encrypted", "externalId",
    "extraTypeInfo", "filterable", "filteredLookupInfo", "formulaTreatNullNumberAsZero", "groupable",
    "highScaleNumber", "htmlFormatted", "idLookup", "inlineHelpText", "label", "length", "mask",
    "maskType", "name", "nameField", "namePointing", "nillable", "permissionable", "picklistValues",
    "polymorphicForeignKey", "precision", "queryByDistance", "referenceTargetField", "referenceTo",
    "relationshipName", "relationshipOrder", "restrictedDelete", "restrictedPicklist", "scale",
    "searchPrefilterable", "soapType", "sortable", "type", "unique", "updateable",
    "writeRequiresMasterRead")
SOAP_TYPES = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "datetime": "xsd:dateTime",
              "date": "xsd:date", "int": "xsd:int", "double": "xsd:double"}
TEXTUAL = ("string", "picklist", "email", "phone", "url", "textarea")
_FLAGS = (("c", "createable"), ("u", "updateable"), ("n", "nillable"), ("d", "defaultedOnCreate"),
          ("p", "permissionable"), ("s", "searchPrefilterable"), ("i", "idLookup"))


def picklist(values: Iterable[str | tuple[str, str]], default: str | None = None) -> list[dict[str, Any]]:
    out = []
    for v in values:
        value, label = (v, v) if isinstance(v, str) else v
        out.append({"active": True, "defaultValue": value == default, "label": label,
                    "validFor": None, "value": value})
    return out


def fdef(name: str, ftype: str, label: str, length: int = 0, flags: str = "",
         values: list[dict[str, Any]] | None = None, ref: list[str] | None = None,
         rel: str | None = None, **over: Any) -> dict[str, Any]:
    """One describe field: a template by type, flags (c u n d p s i), then explicit overrides.

    The template reproduces every field of the recorded real Case describe exactly.
    """
    textual = ftype in TEXTUAL
    if ftype in ("id", "reference"):
        length = 18
    d: dict[str, Any] = {k: False for k in FIELD_KEYS}
    d.update({"calculatedFormula": None, "compoundFieldName": None, "controllerName": None,
              "defaultValue": None, "defaultValueFormula": None, "digits": 0, "extraTypeInfo": None,
              "filteredLookupInfo": None, "inlineHelpText": None, "label": label, "length": length,
              "mask": None, "maskType": None, "name": name, "picklistValues": values or [],
              "precision": 0, "referenceTargetField": None, "referenceTo": list(ref or []),
              "relationshipName": rel, "relationshipOrder": None, "scale": 0,
              "soapType": SOAP_TYPES.get(ftype, "xsd:string"), "type": ftype,
              "byteLength": length * 3 if textual else (18 if ftype in ("id", "reference") else 0),
              "aggregatable": ftype != "boolean", "groupable": ftype not in ("datetime", "textarea"),
              "sortable": True, "filterable": ftype != "textarea"})
    if ftype == "boolean":
        d["defaultValue"] = False
    if ftype == "textarea":
        d["extraTypeInfo"] = "plaintextarea"
        if length > 4000:
            d["aggregatable"] = d["sortable"] = False
    if ftype == "int":
        d["digits"] = 9
    if ftype == "double":
        d["precision"], d["scale"] = 18, 0
    for letter, key in _FLAGS:
        d[key] = letter in flags
    for p in values or []:
        if p["defaultValue"]:
            d["defaultValue"] = p["value"]
    d.update(over)
    return d


def custom(name: str, ftype: str, label: str, length: int = 0, flags: str = "cunp",
           **over: Any) -> dict[str, Any]:
    return fdef(name, ftype, label, length, flags, custom=True, **over)


def audit_fields() -> list[dict[str, Any]]:
    return [
        fdef("CreatedDate", "datetime", "Created Date", flags="d"),
        fdef("CreatedById", "reference", "Created By ID", flags="d", ref=["User"], rel="CreatedBy"),
        fdef("LastModifiedDate", "datetime", "Last Modified Date", flags="d"),
        fdef("LastModifiedById", "reference", "Last Modified By ID", flags="d", ref=["User"],
             rel="LastModifiedBy"),
        fdef("SystemModstamp", "datetime", "System Modstamp", flags="d"),
    ]


def viewed_fields() -> list[dict[str, Any]]:
    return [fdef("LastViewedDate", "datetime", "Last Viewed Date", flags="n"),
            fdef("LastReferencedDate", "datetime", "Last Referenced Date", flags="n")]


def _case_fields() -> list[dict[str, Any]]:
    standard = [
        fdef("Id", "id", "Case ID", flags="di"),
        fdef("IsDeleted", "boolean", "Deleted", flags="d"),
        fdef("MasterRecordId", "reference", "Master Record ID", flags="n", ref=["Case"], rel="MasterRecord"),
        fdef("CaseNumber", "string", "Case Number", 30, "di", autoNumber=True, groupable=False,
             nameField=True),
        fdef("ContactId", "reference", "Contact ID", flags="cunps", ref=["Contact"], rel="Contact"),
        fdef("AccountId", "reference", "Account ID", flags="cunps", ref=["Account"], rel="Account"),
        fdef("AssetId", "reference", "Asset ID", flags="cunps", ref=["Asset"], rel="Asset"),
        fdef("ParentId", "reference", "Parent Case ID", flags="cunps", ref=["Case"], rel="Parent"),
        fdef("SuppliedName", "string", "Name", 80, "cunp"),
        fdef("SuppliedEmail", "email", "Email Address", 80, "cunp"),
        fdef("SuppliedPhone", "string", "Phone", 40, "cunp"),
        fdef("SuppliedCompany", "string", "Company", 80, "cunp"),
        fdef("Type", "picklist", "Case Type", 40, "cunp",
             picklist(["Mechanical", "Electrical", "Electronic", "Structural", "Other"])),
        fdef("Status", "picklist", "Status", 40, "cund",
             picklist(["New", "Working", "Escalated", "Closed"], "New")),
        fdef("Reason", "picklist", "Case Reason", 40, "cunp",
             picklist(["Installation", "Equipment Complexity", "Performance", "Breakdown",
                       "Equipment Design", "Feedback", "Other"])),
        fdef("Origin", "picklist", "Case Origin", 40, "cunp", picklist(["Phone", "Email", "Web", "Social"])),
        fdef("Subject", "string", "Subject", 255, "cunp"),
        fdef("Priority", "picklist", "Priority", 40, "cundp", picklist(["High", "Medium", "Low"], "Medium")),
        fdef("Description", "textarea", "Description", 32000, "cunp"),
        fdef("IsClosed", "boolean", "Closed", flags="d"),
        fdef("ClosedDate", "datetime", "Closed Date", flags="np"),
        fdef("IsEscalated", "boolean", "Escalated", flags="cudp"),
        fdef("OwnerId", "reference", "Owner ID", flags="cud", ref=["Group", "User"], rel="Owner",
             namePointing=True, polymorphicForeignKey=True),
        *audit_fields(),
        fdef("ContactPhone", "phone", "Contact Phone", 40, "n"),
        fdef("ContactMobile", "phone", "Contact Mobile", 40, "n"),
        fdef("ContactEmail", "email", "Contact Email", 80, "n"),
        fdef("ContactFax", "phone", "Contact Fax", 40, "n"),
        fdef("Comments", "textarea", "Internal Comments", 4000, "cun", byteLength=4000),
        *viewed_fields(),
    ]
    extra = [
        fdef("RecordTypeId", "reference", "Record Type ID", flags="cunp", ref=["RecordType"],
             rel="RecordType"),
        fdef("EntitlementId", "reference", "Entitlement Name", flags="cunps", ref=["Entitlement"],
             rel="Entitlement"),
        fdef("SlaStartDate", "datetime", "Entitlement Process Start Time", flags="cunp"),
        fdef("SlaExitDate", "datetime", "Entitlement Process End Time", flags="np"),
        fdef("IsStopped", "boolean", "Stopped", flags="cudp"),
        fdef("StopStartDate", "datetime", "Stopped Since", flags="np"),
        fdef("MilestoneStatus", "string", "Milestone Status", 30, "n", groupable=False),
    ]
    social = [
        custom("Social_Post_Id__c", "string", "Social Post Id", 255, externalId=True, unique=True,
               caseSensitive=True, idLookup=True),
        custom("Social_Network__c", "picklist", "Social Network", 255,
               values=picklist([("x", "X"), ("facebook", "Facebook"), ("instagram", "Instagram")]),
               restrictedPicklist=True),
        custom("Social_Handle__c", "string", "Social Handle", 255),
        custom("Social_Post_Url__c", "url", "Social Post URL", 255),
        custom("Social_Tags__c", "string", "Social Tags", 255),
    ]
    return standard + extra + social


def _contact_fields() -> list[dict[str, Any]]:
    return [
        fdef("Id", "id", "Contact ID", flags="di"),
        fdef("IsDeleted", "boolean", "Deleted", flags="d"),
        fdef("MasterRecordId", "reference", "Master Record ID", flags="n", ref=["Contact"],
             rel="MasterRecord"),
        fdef("AccountId", "reference", "Account ID", flags="cunps", ref=["Account"], rel="Account"),
        fdef("LastName", "string", "Last Name", 80, "cup"),
        fdef("FirstName", "string", "First Name", 40, "cunp"),
        fdef("Salutation", "picklist", "Salutation", 40, "cunp",
             picklist(["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."])),
        fdef("Name", "string", "Full Name", 121, "", nameField=True),
        fdef("Phone", "phone", "Business Phone", 40, "cunp"),
        fdef("MobilePhone", "phone", "Mobile Phone", 40, "cunp"),
        fdef("Email", "email", "Email", 80, "cunpi"),
        fdef("Description", "textarea", "Contact Description", 32000, "cunp"),
        fdef("OwnerId", "reference", "Owner ID", flags="cud", ref=["User"], rel="Owner", namePointing=True),
        *audit_fields(),
        *viewed_fields(),
        custom("Social_Handle__c", "string", "Social Handle", 255, externalId=True, idLookup=True),
    ]


def _case_comment_fields() -> list[dict[str, Any]]:
    return [
        fdef("Id", "id", "Case Comment ID", flags="di"),
        fdef("ParentId", "reference", "Parent ID", flags="c", ref=["Case"], rel="Parent"),
        fdef("IsPublished", "boolean", "Public", flags="cudp"),
        fdef("CommentBody", "textarea", "Body", COMMENT_BYTES, "cunp", byteLength=COMMENT_BYTES),
        fdef("CreatedById", "reference", "Created By ID", flags="d", ref=["User"], rel="CreatedBy"),
        fdef("CreatedDate", "datetime", "Created Date", flags="d"),
        fdef("SystemModstamp", "datetime", "System Modstamp", flags="d"),
        fdef("LastModifiedDate", "datetime", "Last Modified Date", flags="d"),
        fdef("LastModifiedById", "reference", "Last Modified By ID", flags="d", ref=["User"],
             rel="LastModifiedBy"),
        fdef("IsDeleted", "boolean", "Deleted", flags="d"),
        fdef("IsNotificationSelected", "boolean", "Notification Selected", flags="cd", nillable=True),
    ]


def _user_fields() -> list[dict[str, Any]]:
    return [
        fdef("Id", "id", "User ID", flags="di"),
        fdef("Username", "string", "Username", 80, "i"),
        fdef("LastName", "string", "Last Name", 80),
        fdef("FirstName", "string", "First Name", 40, "n"),
        fdef("Name", "string", "Full Name", 121, nameField=True),
        fdef("Alias", "string", "Alias", 8),
        fdef("Email", "email", "Email", 128),
        fdef("IsActive", "boolean", "Active", flags="d"),
        fdef("UserType", "picklist", "User Type", 40, "n",
             picklist(["Standard", "AutomatedProcess", "CsnOnly"]), restrictedPicklist=True),
        fdef("TimeZoneSidKey", "picklist", "Time Zone", 40, "", picklist(["America/Los_Angeles", "GMT"])),
        *audit_fields(),
    ]


def _group_fields() -> list[dict[str, Any]]:
    return [
        fdef("Id", "id", "Group ID", flags="di"),
        fdef("Name", "string", "Name", 40),
        fdef("DeveloperName", "string", "Developer Name", 80, "n"),
        fdef("Type", "picklist", "Type", 40, "",
             picklist(["Regular", "Queue", "Role", "RoleAndSubordinates", "Organization", "Manager"]),
             restrictedPicklist=True),
        fdef("Email", "email", "Email", 255, "n"),
        fdef("OwnerId", "reference", "Owner ID", flags="d", ref=["User", "Organization"], rel="Owner"),
        fdef("DoesSendEmailToMembers", "boolean", "Send Email to Members", flags="d"),
        fdef("DoesIncludeBosses", "boolean", "Include Bosses", flags="d"),
        *audit_fields(),
    ]


def _simple_object_fields(kind: str) -> list[dict[str, Any]]:
    if kind == "QueueSobject":
        return [fdef("Id", "id", "Queue Sobject ID", flags="di"),
                fdef("QueueId", "reference", "Group ID", ref=["Group"], rel="Queue"),
                fdef("SobjectType", "picklist", "Sobject Type", 40, "", picklist(["Case", "Lead"]),
                     restrictedPicklist=True),
                fdef("CreatedById", "reference", "Created By ID", flags="d", ref=["User"], rel="CreatedBy"),
                fdef("SystemModstamp", "datetime", "System Modstamp", flags="d")]
    if kind == "RecordType":
        return [fdef("Id", "id", "Record Type ID", flags="di"),
                fdef("Name", "string", "Name", 80),
                fdef("DeveloperName", "string", "Record Type Name", 80),
                fdef("NamespacePrefix", "string", "Namespace Prefix", 15, "n"),
                fdef("Description", "string", "Description", 255, "n"),
                fdef("SobjectType", "picklist", "SObject Type Name", 40, "", picklist(["Case", "Account"]),
                     restrictedPicklist=True),
                fdef("IsActive", "boolean", "Active", flags="d"),
                fdef("IsPersonType", "boolean", "Is Person Type", flags="d"),
                *audit_fields()]
    if kind == "AssignmentRule":
        return [fdef("Id", "id", "Assignment Rule ID", flags="di"),
                fdef("Name", "string", "Name", 120, "n"),
                fdef("SobjectType", "picklist", "Sobject Type", 40, "n", picklist(["Case", "Lead"]),
                     restrictedPicklist=True),
                fdef("Active", "boolean", "Active", flags="d"),
                *audit_fields()]
    if kind == "SlaProcess":
        return [fdef("Id", "id", "Entitlement Process ID", flags="di"),
                fdef("Name", "string", "Entitlement Process Name", 120, "i"),
                fdef("NameNorm", "string", "Unique Name", 240),
                fdef("Description", "textarea", "Description", 255, "n"),
                fdef("IsActive", "boolean", "Active", flags="d"),
                fdef("IsVersionDefault", "boolean", "Default Version", flags="d"),
                fdef("VersionNumber", "int", "Version Number", flags="n"),
                fdef("SobjectType", "picklist", "Entitlement Process Type", 40, "n",
                     picklist(["Case", "WorkOrder"]), restrictedPicklist=True),
                fdef("StartDateField", "picklist", "Entitlement Process Start Time", 40, "n",
                     picklist([("Case.CreatedDate", "Created Date")]), restrictedPicklist=True),
                *audit_fields()]
    if kind == "Entitlement":
        return [fdef("Id", "id", "Entitlement ID", flags="di"),
                fdef("IsDeleted", "boolean", "Deleted", flags="d"),
                fdef("Name", "string", "Entitlement Name", 255, "cup", nameField=True),
                fdef("AccountId", "reference", "Account Name", flags="cups", ref=["Account"], rel="Account"),
                fdef("Type", "picklist", "Type", 40, "cunp",
                     picklist(["Phone Support", "Web Support", "Social Support"])),
                fdef("StartDate", "date", "Start Date", flags="cunp"),
                fdef("EndDate", "date", "End Date", flags="cunp"),
                fdef("SlaProcessId", "reference", "Entitlement Process", flags="cunp", ref=["SlaProcess"],
                     rel="SlaProcess"),
                fdef("Status", "picklist", "Status", 40, "n", picklist(["Active", "Expired", "Inactive"])),
                fdef("IsPerIncident", "boolean", "Per Incident", flags="cudp"),
                fdef("CasesPerEntitlement", "int", "Cases Per Entitlement", flags="cunp"),
                fdef("RemainingCases", "int", "Remaining Cases", flags="cunp"),
                *audit_fields(),
                *viewed_fields()]
    if kind == "Account":
        return [fdef("Id", "id", "Account ID", flags="di"),
                fdef("IsDeleted", "boolean", "Deleted", flags="d"),
                fdef("MasterRecordId", "reference", "Master Record ID", flags="n", ref=["Account"],
                     rel="MasterRecord"),
                fdef("Name", "string", "Account Name", 255, "cup", nameField=True),
                fdef("Type", "picklist", "Account Type", 255, "cunp",
                     picklist(["Prospect", "Customer - Direct", "Customer - Channel", "Other"])),
                fdef("Phone", "phone", "Account Phone", 40, "cunp"),
                fdef("Website", "url", "Website", 255, "cunp"),
                fdef("Description", "textarea", "Account Description", 32000, "cunp"),
                fdef("OwnerId", "reference", "Owner ID", flags="cud", ref=["User"], rel="Owner",
                     namePointing=True),
                *audit_fields(),
                *viewed_fields()]
    if kind == "Organization":
        return [fdef("Id", "id", "Organization ID", flags="di"),
                fdef("Name", "string", "Name", 80),
                fdef("Country", "string", "Country", 80, "n"),
                fdef("IsSandbox", "boolean", "Is Sandbox", flags="d"),
                fdef("OrganizationType", "picklist", "Edition", 40, "n",
                     picklist(["Developer Edition", "Enterprise Edition", "Unlimited Edition"])),
                fdef("InstanceName", "string", "Instance Name", 5, "n"),
                fdef("TimeZoneSidKey", "picklist", "Default Time Zone", 40, "", picklist(["GMT"])),
                fdef("DefaultLocaleSidKey", "picklist", "Default Locale", 40, "", picklist(["en_US"])),
                fdef("LanguageLocaleKey", "picklist", "Default Language", 40, "", picklist(["en_US"])),
                *audit_fields()]
    raise KeyError(kind)
