"""Zendesk's Channel Framework JSON Schemas (zendesk/any_channel_json_schemas, v0.15.0),
the contracts the stand-in holds an integration and itself to, kept as Zendesk publishes
them: the text of ``../shared/contracts/zendesk/channel-framework/*.json``, copied into the
package because the sandbox runs without the contracts beside it (a test holds the copies
equal to the files).
"""
from __future__ import annotations

import json
from typing import Any

_TEXT: dict[str, str] = {
    "channelback_payload.json": r"""{
  "type": "object",
  "required": ["external_id"],
  "properties": {
    "external_id": {"type": "string", "maxLength": 255, "format": "external-id"},
    "allow_channelback": {"type": "boolean"},
    "metadata_needs_update": {"type": "boolean"},
    "metadata": {"type": "string", "maxLength": 5000}
  }
}
""",
    "channelback_payload_v2.json": r"""{
  "type": "object",
  "required": ["external_id"],
  "properties": {
    "external_id": {"type": "string", "minLength": 1, "maxLength": 255, "format": "external-id"},
    "allow_channelback": {"type": "boolean"},
    "metadata_needs_update": {"type": "boolean"},
    "metadata": {"type": "string", "maxLength": 5000}
  }
}
""",
    "event_callback_activate_integration_instance.json": r"""{
  "$ref": "event_callback_base.json#/definitions/event_callback_base",
  "properties": {
    "data": {
      "type": "object",
      "required": ["metadata"],
      "properties": {
        "metadata": {"type": "string"}
      }
    }
  }
}
""",
    "event_callback_any.json": r"""{
  "anyOf": [
    { "$ref": "event_callback_create_integration.json" },
    { "$ref": "event_callback_destroy_integration.json" },
    { "$ref": "event_callback_activate_integration_instance.json" },
    { "$ref": "event_callback_deactivate_integration_instance.json" },
    { "$ref": "event_callback_create_integration_instance.json" },
    { "$ref": "event_callback_destroy_integration_instance.json" },
    { "$ref": "event_callback_destroy_user.json" },
    { "$ref": "event_callback_pull_request.json" },
    { "$ref": "event_callback_resources_created_from_external_ids.json" },
    { "$ref": "event_callback_channelback.json" }
  ]
}
""",
    "event_callback_base.json": r"""{
  "$ref": "#/definitions/event_callback_base",
  "definitions": {
    "event_callback_base": {
      "type": "object",
      "required": ["type_id", "timestamp", "subdomain", "integration_name", "integration_id", "data"],
      "properties": {
        "type_id": {
          "type": "string",
          "enum": [
            "create_integration",
            "destroy_integration",
            "activate_integration_instance",
            "deactivate_integration_instance",
            "create_integration_instance",
            "destroy_integration_instance",
            "destroy_user_identity",
            "pull_request",
            "resources_created_from_external_ids",
            "channelback"
          ]
        },
        "timestamp": {"type": "time"},
        "subdomain": {"type": "string"},
        "integration_name": {"type": "string"},
        "integration_id": {"type": "string"},
        "data": {"type": "object"},
        "error": {"type": "string"}
      }
    }
  }
}
""",
    "event_callback_channelback.json": r"""{
  "$ref": "event_callback_base.json#/definitions/event_callback_base",
  "properties": {
    "data": {
      "type": "object",
      "required": ["integration_instance_name", "url", "request_id"],
      "properties": {
        "integration_instance_name": {"type": "string"},
        "url": {"type": "string", "format": "https-url"},
        "request_id": {"type": "string"}
      }
    }
  }
}
""",
    "event_callback_create_integration.json": r"""{
  "$ref": "event_callback_base.json#/definitions/event_callback_base",
  "properties": {
    "data": {
      "type": "object",
      "required": ["manifest_url"],
      "properties": {
        "manifest_url": {"type": "string", "format": "https-url"}
      }
    }
  }
}
""",
    "event_callback_create_integration_instance.json": r"""{
  "$ref": "event_callback_base.json#/definitions/event_callback_base",
  "properties": {
    "data": {
      "type": "object",
      "required": ["metadata"],
      "properties": {
        "metadata": {"type": "string"}
      }
    }
  }
}
""",
    "event_callback_deactivate_integration_instance.json": r"""{
  "$ref": "event_callback_base.json#/definitions/event_callback_base",
  "properties": {
    "data": {
      "type": "object",
      "required": ["metadata", "deactivated_by"],
      "properties": {
        "metadata": {"type": "string"},
        "deactivated_by": {
          "type": "string",
          "enum": [
            "error",
            "api"
          ]
        },
        "deactivating_error": {
          "type": "string"
        }
      }
    }
  }
}
""",
    "event_callback_destroy_integration.json": r"""{
  "$ref": "event_callback_base.json#/definitions/event_callback_base",
  "properties": {
    "data": {
      "type": "object",
      "required": ["manifest_url"],
      "properties": {
        "manifest_url": {"type": "string", "format": "https-url"}
      }
    }
  }
}
""",
    "event_callback_destroy_integration_instance.json": r"""{
  "$ref": "event_callback_base.json#/definitions/event_callback_base",
  "properties": {
    "data": {
      "type": "object",
      "required": ["metadata"],
      "properties": {
        "metadata": {"type": "string"}
      }
    }
  }
}
""",
    "event_callback_destroy_user.json": r"""{
  "$ref": "event_callback_base.json#/definitions/event_callback_base",
  "properties": {
    "data": {
      "type": "object",
      "required": ["author"],
      "properties": {
        "author": {
            "type": "object",
            "required": ["external_id"],
            "properties": {
               "external_id": {"type": "string"}
            }
        },
        "metadata": {"type": "string"}
      }
    }
  }
}
""",
    "event_callback_pull_request.json": r"""{
  "$ref": "event_callback_base.json#/definitions/event_callback_base",
  "properties": {
    "data": {
      "type": "object",
      "required": ["integration_instance_name", "url", "request_id", "duplicate_external_ids"],
      "properties": {
        "integration_instance_name": {"type": "string"},
        "url": {"type": "string", "format": "https-url"},
        "request_id": {"type": "string"},
        "duplicate_external_ids": {
          "type": "array",
          "items": {
            "type": "object",
            "required": ["external_id", "request_id"],
            "properties": {
              "external_id": {"type": "string"},
              "request_id": {"type": "string"},
              "ticket_id": {"type": "number"},
              "comment_id": {"type": "number"}
            }
          }
        }
      }
    }
  }
}
""",
    "event_callback_resources_created_from_external_ids.json": r"""{
  "$ref": "event_callback_base.json#/definitions/event_callback_base",
  "properties": {
    "type_id": {"type": "string", "pattern": "^resources_created_from_external_ids$"},
    "data": {
      "type": "object",
      "required": ["request_id", "resource_events"],
      "properties": {
        "request_id": {"type": "string"},
        "resource_events": {
          "type": "array",
          "items": {
            "anyOf": [
              {"$ref": "#/definitions/comment_on_new_ticket"},
              {"$ref": "#/definitions/comment_on_existing_ticket"},
              {"$ref": "#/definitions/comment_on_new_follow_up_ticket"},
              {"$ref": "#/definitions/external_id_associated_with_channelback"}
            ]
          }
        }
      }
    }
  },
  "definitions": {
    "resource_created_from_external_id": {
      "type": "object",
      "required": ["type_id", "external_id", "comment_id", "ticket_id"],
      "properties": {
        "external_id": {"type": "string"},
        "comment_id": {"type": "number"},
        "ticket_id": {"type": "number"}
      }
    },
    "comment_on_new_ticket": {
      "$ref": "#/definitions/resource_created_from_external_id",
      "properties": {
        "type_id": {"type": "string", "pattern": "^comment_on_new_ticket$"}
      }
    },
    "comment_on_existing_ticket": {
      "$ref": "#/definitions/resource_created_from_external_id",
      "properties": {
        "type_id": {"type": "string", "pattern": "^comment_on_existing_ticket$"}
      }
    },
    "comment_on_new_follow_up_ticket": {
      "$ref": "#/definitions/resource_created_from_external_id",
      "required": ["follow_up_ticket_id"],
      "properties": {
        "type_id": {"type": "string", "pattern": "^comment_on_follow_up_ticket$"},
        "follow_up_ticket_id": {"type": "number"}
      }
    },
    "external_id_associated_with_channelback": {
      "$ref": "#/definitions/resource_created_from_external_id",
      "properties": {
        "type_id": {"type": "string", "pattern": "^external_id_associated_with_channelback$"}
      }
    }
  }
}
""",
    "external_resource.json": r"""{
  "type": "object",
  "required": ["external_id", "message", "author", "created_at"],
  "properties": {
    "external_id": {"type": "string", "minLength": 1, "maxLength": 255, "format": "external-id"},
    "internal_note": {"type": "boolean"},
    "message": {"type": "string", "minLength": 1, "maxLength": 65535},
    "html_message": {"type": "string", "minLength": 1, "maxLength": 65535},
    "parent_id": {"type": "string", "minLength": 1, "maxLength": 255, "format": "external-id"},
    "thread_id": {"type": "string", "minLength": 1, "maxLength": 255, "format": "external-id"},
    "created_at": {"type": "string", "maxLength": 255, "format": "date-time"},
    "author": {"$ref": "#/definitions/author"},
    "display_info": {"type": "array", "maxItems": 16, "items": {"$ref": "#/definitions/display_info"} },
    "allow_channelback": {"type":"boolean"},
    "fields": {"type": "array", "maxItems": 64, "items": {"$ref": "#/definitions/field_value"} },
    "file_urls": {"type": "array", "maxItems": 64, "items": {"$ref": "#/definitions/file_url"} }
  },
  "definitions": {
    "external_resource": {
    },
    "author": {
      "type": "object",
      "required": ["external_id"],
      "properties": {
        "external_id": {"type": "string", "minLength": 1, "maxLength": 255, "format": "external-id"},
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "image_url": {"type": "string", "minLength": 1, "maxLength": 511},
        "locale": {"type": "string", "minLength": 1, "maxLength": 255},
        "fields": {"type": "array", "maxItems": 64, "items": {"$ref": "#/definitions/field_value"} }
      }
    },
    "display_info": {
      "type": "object",
      "required": ["type", "data"],
      "properties": {
        "type": {"type": "string", "minLength": 1, "maxLength": 255},
        "data": {"type": "object"}
      }
    },
    "field_value": {
      "type": "object",
      "required": ["id", "value"],
      "properties": {
        "id": {"type": ["integer", "string"], "minLength": 1, "maxLength": 255},
        "value": {"type": "any"}
      }
    },
    "file_url": {
      "type": "string",
      "format": "https-url",
      "maxLength": 511
    }
  }
}
""",
    "manifest.json": r"""{
  "$ref": "#/definitions/manifest",
  "definitions": {
    "manifest": {
      "type": "object",
      "required": ["name", "id", "urls"],
      "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "id": {"type": "string", "minLength": 1, "maxLength": 511},
        "version": {"type": "string", "minLength": 1, "maxLength": 255},
        "author": {"type": "string", "minLength": 1, "maxLength": 255},
        "push_client_id": {"type": "string", "minLength": 1, "maxLength": 128},
        "channelback_files": {"type": "boolean"},
        "create_followup_tickets": {"type": "boolean"},
        "urls": { "$ref": "#/definitions/manifest/definitions/urls"}
      },
      "definitions": {
        "urls": {
          "type": "object",
          "required": ["admin_ui"],
          "properties": {
            "admin_ui": {"type": "string", "maxLength": 511, "format": "https-url"},
            "pull_url": {"type": "string", "maxLength": 511, "format": "https-url"},
            "channelback_url": {"type": "string", "maxLength": 511, "format": "https-url"},
            "clickthrough_url": {"type": "string", "maxLength": 511, "format": "https-url"},
            "healthcheck_url": {"type": "string", "maxLength": 511, "format": "https-url"},
            "about_url": {"type": "string", "maxLength": 511, "format": "https-url"},
            "dashboard_url": {"type": "string", "maxLength": 511, "format": "https-url"},
            "event_callback_url": {"type": "string", "maxLength": 511, "format": "https-url"}
          }
        }
      }
    }
  }
}
""",
    "pull_payload.json": r"""{
  "type": "object",
  "required": ["external_resources"],
  "properties": {
    "state": {"type": "string", "maxLength": 5000},
    "external_resources": {"type": "array", "maxItems": 256, "items": { "$ref": "external_resource.json"} },
    "metadata_needs_update": {"type": "boolean"},
    "metadata": {"type": "string", "maxLength": 5000}
  }
}
""",
    "push_parameters.json": r"""{
  "type": "object",
  "required": ["instance_push_id", "external_resources"],
  "properties": {
    "instance_push_id": {"type": "string", "minLength": 1, "maxLength": 255},
    "request_id": {"type": "string", "minLength": 1, "maxLength": 64},
    "external_resources": {"type": "array", "maxItems": 256, "items": { "$ref": "external_resource.json"} }
  }
}
""",
    "report_channelback_error.json": r"""{
  "type": "object",
  "required": ["instance_push_id", "external_id"],
  "properties": {
    "instance_push_id": { "type": "string", "minLength": 1, "maxLength": 255 },
    "external_id": { "type": "string", "maxLength": 255, "format": "external-id" },
    "request_id": { "type": "string", "minLength": 1, "maxLength": 64 },
    "description": { "type": "string", "maxLength": 511 }
  }
}
""",
}

SCHEMAS: dict[str, Any] = {name: json.loads(text) for name, text in _TEXT.items()}
