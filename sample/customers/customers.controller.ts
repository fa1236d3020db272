import { Body, Controller, Get, Param, Post, Query } from '@nestjs/common';
import { InvalidRequestError } from '../errors/invalid-request.error.js';
import { parseTenantId } from '../tenants/tenant-id.js';
import { parseCustomerData, parseCustomerId, type Customer } from './customer.js';
import { CustomersService } from './customers.service.js';

const DEFAULT_PAGE = 50;
const MAX_PAGE = 100;

/** Customers of a tenant. Runs under SessionInterceptor: one transaction per request. */
@Controller('tenants/:tenantId/customers')
export class CustomersController {
  constructor(private readonly customers: CustomersService) {}

  @Post()
  create(@Param('tenantId') tenantId: string, @Body() body: unknown): Promise<{ id: string }> {
    return this.customers.create(parseTenantId(tenantId), parseCustomerData(body));
  }

  /** `?limit=` (1–100, default 50) and `?after=<id>` page through the tenant's customers. */
  @Get()
  list(
    @Param('tenantId') tenantId: string,
    @Query('limit') limit?: string,
    @Query('after') after?: string,
  ): Promise<Customer[]> {
    return this.customers.list(
      parseTenantId(tenantId),
      parseLimit(limit),
      after === undefined ? undefined : parseCustomerId(after),
    );
  }

  @Get(':id')
  get(@Param('tenantId') tenantId: string, @Param('id') id: string): Promise<Customer> {
    return this.customers.get(parseTenantId(tenantId), parseCustomerId(id));
  }
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_PAGE;
  const limit = Number(raw);
  if (!/^\d+$/.test(raw) || limit < 1 || limit > MAX_PAGE) {
    throw new InvalidRequestError(`"limit" must be a whole number from 1 to ${MAX_PAGE}.`);
  }
  return limit;
}
