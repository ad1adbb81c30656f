import { STATUS_CODES } from 'node:http'
import type { ErrorResponse } from './schemas/common.js'

/** The one error shape: {statusCode, error, message, details?}. */
export function errorBody (statusCode: number, message: string, details?: ErrorResponse['details']): ErrorResponse {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, ...(details !== undefined && { details }) }
}

/** An error a client caused or may see: its status and message go to the client as they are. */
export class HttpError extends Error {
  constructor (readonly statusCode: number, message: string) {
    super(message)
    this.name = 'HttpError'
  }
}

export const badRequest = (message: string): HttpError => new HttpError(400, message)
export const unauthorized = (message = 'Authentication required'): HttpError => new HttpError(401, message)
export const forbidden = (message: string): HttpError => new HttpError(403, message)
export const notFound = (message: string): HttpError => new HttpError(404, message)
export const conflict = (message: string): HttpError => new HttpError(409, message)
export const tooManyRequests = (message: string): HttpError => new HttpError(429, message)
export const serviceUnavailable = (message = 'Service temporarily unavailable, try again shortly'): HttpError => new HttpError(503, message)
