export interface SigningKey {
  key_id: string;
  vkey: string;
  role: "primary" | "overlap" | "retired" | string;
  source: unknown;
  created: number;
  overlap_until?: number;
  retired?: number;
  replaces?: string;
}
export interface SigningKeys {
  origin: string;
  signing: string[];
  history: SigningKey[];
}
