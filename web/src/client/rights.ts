/**
 * The session's rights as the UI needs them: may this user create, edit, delete or reply? The
 * server checks every change anyway (docs/protocol.md, "Rights"); this only keeps the UI from
 * offering what would be refused.
 */
import type { QuireRecord, RecordKind, SessionRights, SessionUser } from "./types";

type Scope = "all" | "group" | "self";

export class Rights {
  readonly canWrite: boolean;
  private readonly collab: Set<string>;

  constructor(
    readonly rights: SessionRights,
    readonly user: SessionUser,
  ) {
    const perms = new Set(rights.permissions);
    this.canWrite = perms.has("write") || perms.has("all");
    // A token without collaboration permissions means full access (with `write`).
    this.collab = new Set(
      rights.collaboration_permissions.length > 0 ? rights.collaboration_permissions : allCollaboration(),
    );
  }

  /** May the user download the original PDF? */
  get canDownload(): boolean {
    return this.rights.permissions.some((p) => p === "download" || p === "all");
  }

  /** May the user create a record of this kind at all (comments: see `canReply`)? */
  canCreate(kind: RecordKind): boolean {
    if (!this.canWrite) return false;
    const type = contentType(kind);
    return (["all", "group", "self"] as Scope[]).some((s) => this.collab.has(`${type}:edit:${s}`));
  }

  /**
   * May the user fill in the PDF's form fields (create or update `form_field` values)? The
   * server allows it with `form-fields:fill` or any `form-fields:edit` scope.
   */
  get canFillForms(): boolean {
    if (!this.canWrite) return false;
    return [...this.collab].some((p) => p === "form-fields:fill" || p.startsWith("form-fields:fill:") || p.startsWith("form-fields:edit:"));
  }

  /** May the user change this record? */
  canEdit(record: QuireRecord): boolean {
    return this.canWrite && this.covers(`${contentType(record.kind)}:edit`, record);
  }

  /** May the user delete this record? */
  canDelete(record: QuireRecord): boolean {
    return this.canWrite && this.covers(`${contentType(record.kind)}:delete`, record);
  }

  /** May the user comment on the thread rooted at this annotation? */
  canReply(root: QuireRecord): boolean {
    return this.canWrite && this.covers("comments:reply", root);
  }

  /** Whether a `<prefix>:<scope>` permission covers the record's creator. */
  private covers(prefix: string, record: QuireRecord): boolean {
    if (this.collab.has(`${prefix}:all`)) return true;
    if (this.collab.has(`${prefix}:group`) && this.user.group !== null && record.group === this.user.group) return true;
    return this.collab.has(`${prefix}:self`) && record.creator === this.user.user_id;
  }
}

/** Bookmarks follow the annotation permissions; form values have their own. */
function contentType(kind: RecordKind): string {
  switch (kind) {
    case "comment":
      return "comments";
    case "form_field":
      return "form-fields";
    default:
      return "annotations";
  }
}

function allCollaboration(): string[] {
  const out: string[] = [];
  for (const type of ["annotations", "comments", "form-fields"]) {
    for (const action of ["view", "edit", "delete", "reply", "fill"]) out.push(`${type}:${action}:all`);
  }
  return out;
}
