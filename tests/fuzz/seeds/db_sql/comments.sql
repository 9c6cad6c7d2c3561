INSERT INTO t VALUES (?, ?) -- why?
/* a /* nested ? */ ? */ RETURNING ?