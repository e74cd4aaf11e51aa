// Loads .env (if present) into process.env before configuration is parsed; real environment
// variables win over the file.
import dotenv from 'dotenv';

dotenv.config({ quiet: true });
