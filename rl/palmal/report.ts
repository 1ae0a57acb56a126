// Tables and figures from the saved PAL/MAL results (filled in below).
export async function writeReport(_dir: string): Promise<void> {}
