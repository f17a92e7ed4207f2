"""Mirror: agent answers in the helpdesk go back to the network (reader, guards, poster)."""
