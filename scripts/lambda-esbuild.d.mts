import type { BuildOptions } from 'esbuild';

/** The esbuild options of the Lambda bundle (see lambda-esbuild.mjs). */
export declare const LAMBDA_BUILD_OPTIONS: BuildOptions;
