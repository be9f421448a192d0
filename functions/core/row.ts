/** One row of the logical table `data_1 (id INT PRIMARY KEY, name VARCHAR(255))`. */
export interface Row {
  readonly id: number;
  /** The column is nullable; rows written through this API always have a name. */
  readonly name: string | null;
}

/** PostgreSQL's VARCHAR(255) counts characters, not bytes. */
export const MAX_NAME_LENGTH = 255;
