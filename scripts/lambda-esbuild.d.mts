import type { BuildOptions } from 'esbuild';

/** The esbuild options of the Lambda bundle (see lambda-esbuild.mjs). */
export declare const LAMBDA_BUILD_OPTIONS: BuildOptions;

/** The Lambda bundle's credential chain in place of the SDK's default (see lambda-esbuild.mjs). */
export declare const LAMBDA_CREDENTIALS_ALIAS: Record<string, string>;
